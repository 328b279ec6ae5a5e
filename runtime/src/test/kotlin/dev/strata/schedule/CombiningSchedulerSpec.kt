package dev.strata.schedule

import dev.strata.task.TaskArgs
import dev.strata.task.Target
import dev.strata.worker.Worker
import dev.strata.worker.WorkerConfig
import io.kotest.core.spec.style.FunSpec
import io.kotest.matchers.collections.shouldBeEmpty
import io.kotest.matchers.shouldBe
import java.util.concurrent.atomic.AtomicInteger
import kotlin.time.Duration
import kotlin.time.Duration.Companion.microseconds
import kotlin.time.Duration.Companion.seconds

/**
 * The scheduler without a thread (Scheduler.kt, "Structural overview"): every step is taken by a thread
 * that posts, or left to an idle sub worker that spins ([dev.strata.endpoint.IdleHelp]). A lost hand-over
 * (an event queued while nobody takes the step) would leave a run unfinished, so every run here has a
 * bounded wait: the spin budgets cover the hot paths (workers spinning as helpers), the park at once (no
 * helper at all) and the mixed case.
 */
class CombiningSchedulerSpec : FunSpec({
    timeout = 120_000L

    for (spin in listOf(Duration.ZERO, 2.microseconds, 50.microseconds)) {
        test("no step is lost: one-task runs, fan-outs and chains all finish (spin $spin)") {
            Worker(WorkerConfig(subWorkers = 4, spin = spin, name = "Comb")).use { w ->
                val ran = AtomicInteger()
                repeat(3_000) { w.submit { submit(Target.Sub, { ran.incrementAndGet() }, TaskArgs.EMPTY) }.result(10.seconds) }
                val cells = Array(64) { w.hostTensor(dev.strata.tensor.DType.U8, 1) }
                repeat(200) { round ->
                    w.submit {
                        for (i in cells.indices) submit(Target.Sub, { ran.incrementAndGet() }, TaskArgs.build { output(cells[i]) })
                        for (i in 0 until 32) submit(Target.Sub, { ran.incrementAndGet() }, TaskArgs.build { inout(cells[round % cells.size]) })
                    }.result(10.seconds)
                }
                ran.get() shouldBe 3_000 + 200 * (64 + 32)
            }
        }
    }

    test("the worker has no scheduler thread: only its sub workers' threads exist") {
        Worker(WorkerConfig(subWorkers = 2, name = "NoSched")).use { w ->
            w.run { submit(Target.Sub, { }, TaskArgs.EMPTY) }
            Thread.getAllStackTraces().keys.map { it.name }.filter { it.startsWith("strata-NoSched-") && "sub#" !in it }.shouldBeEmpty()
        }
    }
})
