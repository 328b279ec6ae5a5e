package dev.strata.run

import dev.strata.error.TaskFailedException
import dev.strata.task.TaskArgs
import dev.strata.task.Target
import dev.strata.tensor.DType
import dev.strata.testing.awaitOrFail
import dev.strata.worker.Worker
import dev.strata.worker.WorkerConfig
import io.kotest.assertions.throwables.shouldThrow
import io.kotest.core.spec.style.FunSpec
import io.kotest.matchers.longs.shouldBeGreaterThan
import io.kotest.matchers.shouldBe
import io.kotest.matchers.string.shouldMatch
import java.util.concurrent.CountDownLatch
import kotlin.time.Duration
import kotlin.time.Duration.Companion.seconds

/** [RunHandle.stats]: tasks by final state, wall time, back-pressure time, and the one-line summary. */
class RunStatsSpec : FunSpec({
    timeout = 60_000L

    test("a finished run counts its tasks (not its gates or allocs) as completed, with its wall time and a summary line") {
        Worker(WorkerConfig(subWorkers = 2)).use { w ->
            val h = w.submit {
                val t = alloc(DType.F32, 16)
                val g = gate("go")
                repeat(10) { submit(Target.Sub, { }, TaskArgs.build { inout(t) }, "step") }
                submitGroup(listOf(Target.Sub, Target.Sub), { }, listOf(TaskArgs.EMPTY, TaskArgs.EMPTY), "pair")
                g.open()
            }
            h.result(10.seconds)
            val s = h.stats
            s.runId shouldBe h.id
            s.tasks shouldBe 11
            s.completed shouldBe 11
            s.failed shouldBe 0
            s.skipped shouldBe 0
            s.unfinished shouldBe 0
            s.finished shouldBe true
            (s.wallTime > Duration.ZERO) shouldBe true
            s.summary() shouldMatch Regex("""run #\d+: 11 tasks \(11 completed\) in \d+\.\d ms""")
            h.stats.wallTime shouldBe s.wallTime // frozen once finished
        }
    }

    test("a failed run counts the failed task and the ones it made skip; the summary says so") {
        Worker(WorkerConfig(subWorkers = 1)).use { w ->
            val a = w.hostTensor(DType.I32, 4)
            val built = CountDownLatch(1) // "bad" fails once every task is submitted (a submit after the failure would throw it)
            val h = w.submit {
                submit(Target.Sub, { }, TaskArgs.EMPTY, "fine")
                submit(Target.Sub, { built.awaitOrFail("built"); throw IllegalStateException("on purpose") }, TaskArgs.build { output(a) }, "bad")
                repeat(3) { submit(Target.Sub, { }, TaskArgs.build { inout(a) }, "after") }
                built.countDown()
            }
            shouldThrow<TaskFailedException> { h.result(10.seconds) }
            val s = h.stats
            s.tasks shouldBe 5
            s.failed shouldBe 1
            s.skipped shouldBe 3
            s.completed shouldBe 1
            s.summary() shouldMatch Regex("""run #\d+: 5 tasks \(1 completed, 1 failed, 3 skipped\) in \d+\.\d ms""")
        }
    }

    test("while a run is in flight its stats are a snapshot: unfinished tasks, not finished") {
        Worker(WorkerConfig(subWorkers = 1)).use { w ->
            val gate = CountDownLatch(1)
            try {
                val h = w.submit { repeat(3) { submit(Target.Sub, { gate.awaitOrFail("gate") }, TaskArgs.EMPTY, "held") } }
                val s = h.stats
                s.finished shouldBe false
                s.tasks shouldBe 3
                s.unfinished shouldBe 3
                s.summary() shouldMatch Regex("""run #\d+: 3 tasks \(0 completed, 3 unfinished\) running for \d+\.\d ms""")
                gate.countDown()
                h.result(10.seconds)
                h.stats.completed shouldBe 3
            } finally {
                gate.countDown()
            }
        }
    }

    test("time the program waited for a task slot is back-pressure time") {
        Worker(WorkerConfig(subWorkers = 1, taskWindow = 2)).use { w ->
            val h = w.submit { repeat(6) { scope { submit(Target.Sub, { Thread.sleep(20) }, TaskArgs.EMPTY, "slow") } } }
            h.result(10.seconds)
            h.stats.backPressureTime.inWholeMilliseconds shouldBeGreaterThan 20
            h.stats.summary() shouldMatch Regex(""".* \d+\.\d ms waiting for room""")
        }
        Worker(WorkerConfig(subWorkers = 1)).use { w ->
            val h = w.submit { repeat(6) { submit(Target.Sub, { }, TaskArgs.EMPTY, "fast") } }
            h.result(10.seconds)
            h.stats.backPressureTime shouldBe Duration.ZERO
        }
    }

    test("time the program waited for heap-ring bytes is back-pressure time too") {
        Worker(WorkerConfig(subWorkers = 1, heapRingBytes = 4096)).use { w ->
            val h = w.submit {
                repeat(4) {
                    scope {
                        val t = alloc(DType.U8, 3000) // two never fit at once: the next waits for the last to be released
                        submit(Target.Sub, { Thread.sleep(20) }, TaskArgs.build { output(t) }, "fill")
                    }
                }
            }
            h.result(10.seconds)
            h.stats.backPressureTime.inWholeMilliseconds shouldBeGreaterThan 10
        }
    }
})

