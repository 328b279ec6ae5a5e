package dev.strata.schedule

import dev.strata.endpoint.Dispatch
import dev.strata.endpoint.Endpoint
import dev.strata.endpoint.StopReason
import dev.strata.endpoint.ThreadEndpoint
import dev.strata.graph.Run
import dev.strata.graph.Task
import dev.strata.task.TaskArgs
import dev.strata.task.TaskCallable
import dev.strata.task.Target
import dev.strata.testing.awaitOrFail
import java.lang.management.ManagementFactory
import java.util.concurrent.CountDownLatch
import java.util.concurrent.Executors
import java.util.concurrent.TimeUnit
import kotlin.concurrent.thread
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

    test("idle workers do not spin on while another thread holds the step: one spin budget per wait, then they park") {
        // A step held for 400 ms (a dispatch to a slow next-level endpoint) while three sub workers finish
        // their tasks: their completions wait in the inbox, work they cannot take. Each may spin for its
        // budget (50 µs), then parks. Before the fix a worker left its wait as soon as it saw the queued
        // event, failed to take the step and spun anew: both cores burnt for the whole 400 ms.
        val mx = ManagementFactory.getThreadMXBean()
        val go = CountDownLatch(1)
        val holding = CountDownLatch(1)
        val slow = SlowDispatchEndpoint(go, holding)
        val subs = Array(3) { ThreadEndpoint("held sub#$it", it, 50_000) }
        val scheduler = Scheduler("held", arrayOf<Endpoint>(*subs), arrayOf<Endpoint>(slow), NoHooks)
        scheduler.start()
        try {
            val run = Run(1) { }.also { scheduler.admit(it) }
            fun task(id: Long, target: Target, body: TaskCallable) =
                Task(id, run, "t$id", body, arrayOf(target), arrayOf(TaskArgs.EMPTY)).also { run.pending.incrementAndGet() }
            val waiting = List(3) { i -> task(i + 1L, Target.Sub) { go.awaitOrFail("go") } }
            for (t in waiting) {
                t.publish() shouldBe Task.Publish.READY
                scheduler.ready(t)
            }
            val toSlow = task(9, Target.Next(0)) { }
            toSlow.publish() shouldBe Task.Publish.READY
            val holder = thread(name = "step-holder") { scheduler.ready(toSlow) } // its step dispatches to the slow endpoint
            holding.awaitOrFail("the slow dispatch")
            val threads = Thread.getAllStackTraces().keys.filter { it.name.startsWith("strata-held-sub#") }
            threads.size shouldBe 3
            fun cpu() = threads.sumOf { mx.getThreadCpuTime(it.threadId()).coerceAtLeast(0) }
            val before = cpu()
            holder.join(10_000)
            val spentMs = (cpu() - before) / 1_000_000
            println("CombiningSchedulerSpec: 3 idle sub workers used $spentMs ms of CPU while the step was held for 400 ms")
            (spentMs < 100) shouldBe true
            if (run.arrive()) scheduler.runArrived(run)
            run.done.get(10, TimeUnit.SECONDS)
        } finally {
            go.countDown()
            scheduler.stop(2_000)
            for (e in subs) e.close()
            slow.close()
        }
    }

    test("a ready task of a program still building is taken while the program waits for it inside its build") {
        // A helping worker lets a building program's ready task wait a little (StepDelay), for its successors.
        // A program that stops submitting — here, to wait for the task's effect without ending its build —
        // must get the task run anyway. The workers spin for a whole second before they park (and give the step
        // up): were the step left for the build's end, or for the helper's spin to end, each run would wait that
        // second and the deadline below would fail the test.
        Worker(WorkerConfig(subWorkers = 2, spin = 1.seconds, name = "WaitIn")).use { w ->
            repeat(2_000) { i ->
                val done = java.util.concurrent.atomic.AtomicBoolean()
                w.run {
                    submit(Target.Sub, { done.set(true) }, TaskArgs.EMPTY)
                    val deadline = System.nanoTime() + 500_000_000L
                    while (!done.get()) {
                        check(System.nanoTime() < deadline) { "run $i: the task did not run while its program waited inside its build" }
                        Thread.onSpinWait()
                    }
                }
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

/** Hooks that only complete a run's handle. */
private object NoHooks : Scheduler.Hooks {
    override fun consume(task: Task) = Unit
    override fun runFinished(run: Run) = run.complete()
}

/** A next-level endpoint whose dispatch releases [go], then takes 400 ms (holding the step that called it); it completes on its own thread. */
private class SlowDispatchEndpoint(private val go: CountDownLatch, private val holding: CountDownLatch) : Endpoint {
    override val path = "slow next#0"
    override val index = 0
    override val running: Dispatch? get() = null
    override val runningSinceNanos: Long get() = 0
    override val lastProgressNanos: Long get() = 0
    private lateinit var onDone: (Dispatch) -> Dispatch?
    private val done = Executors.newSingleThreadExecutor { r -> Thread(r, "slow-done").apply { isDaemon = true } }

    override fun start(onDone: (Dispatch) -> Dispatch?) {
        this.onDone = onDone
    }

    override fun dispatch(dispatch: Dispatch) {
        go.countDown() // the sub workers finish their tasks now, while this step is held
        holding.countDown()
        Thread.sleep(400)
        done.execute { onDone(dispatch) }
    }

    override fun stop(dispatch: Dispatch, reason: StopReason) = Unit
    override fun ownsCurrentThread(): Boolean = false
    override fun close(timeoutMillis: Long) {
        done.shutdownNow()
    }
}
