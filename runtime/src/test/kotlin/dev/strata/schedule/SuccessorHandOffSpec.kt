package dev.strata.schedule

import dev.strata.error.RunCancelledException
import dev.strata.error.TaskFailedException
import dev.strata.task.TaskArgs
import dev.strata.task.Target
import dev.strata.tensor.DType
import dev.strata.testing.HANG_GUARD
import dev.strata.testing.waitUntil
import dev.strata.worker.NextLevelChild
import dev.strata.worker.Worker
import dev.strata.worker.WorkerConfig
import io.kotest.assertions.throwables.shouldThrow
import io.kotest.core.spec.style.FunSpec
import io.kotest.matchers.collections.shouldHaveSize
import io.kotest.matchers.shouldBe
import java.util.concurrent.ConcurrentHashMap
import java.util.concurrent.CountDownLatch
import java.util.concurrent.atomic.AtomicInteger
import dev.strata.testing.awaitOrFail

/**
 * The successor hand-off: an endpoint that completes a single task runs the consumer it made ready
 * itself, and the endpoint that completes a run's last task completes the run's handle.
 */
class SuccessorHandOffSpec : FunSpec({
    test("a chain of dependent sub tasks runs on one worker thread, in order") {
        Worker(WorkerConfig(subWorkers = 4)).use { w ->
            val x = w.hostTensor(DType.I64, 1)
            val threads = ConcurrentHashMap.newKeySet<String>()
            val gate = CountDownLatch(1)
            val handle = w.submit {
                // The first link waits until the whole chain is built, so every later link is released by
                // its predecessor's completion rather than by its own publication.
                submit(Target.Sub, { gate.awaitOrFail("gate"); threads += Thread.currentThread().name }, TaskArgs.build { inout(x) }, "first")
                repeat(200) { i ->
                    submit(Target.Sub, {
                        threads += Thread.currentThread().name
                        x.setLong(0, x.getLong(0) * 31 + i)
                    }, TaskArgs.build { inout(x) }, "link $i")
                }
            }
            gate.countDown()
            handle.result(HANG_GUARD)
            var expect = 0L
            repeat(200) { expect = expect * 31 + it }
            x.getLong(0) shouldBe expect
            threads shouldHaveSize 1
            w.runs.scheduler.handOffs.sum() shouldBe 200L // every link after the first was handed off
        }
    }

    test("a consumer made ready after its run was cancelled is skipped, not run") {
        Worker(WorkerConfig(subWorkers = 2)).use { w ->
            val x = w.hostTensor(DType.I64, 1)
            val started = CountDownLatch(1)
            val gate = CountDownLatch(1)
            val dependentRan = AtomicInteger()
            val handle = w.submit {
                submit(Target.Sub, { started.countDown(); gate.awaitOrFail("gate") }, TaskArgs.build { output(x) }, "producer")
                submit(Target.Sub, { dependentRan.incrementAndGet() }, TaskArgs.build { input(x) }, "consumer")
            }
            started.awaitOrFail("producer start")
            handle.cancel()
            gate.countDown()
            shouldThrow<RunCancelledException> { handle.result(HANG_GUARD) }
            dependentRan.get() shouldBe 0
        }
    }

    test("a failed task's consumers are skipped and the run fails with the task's error") {
        Worker(WorkerConfig(subWorkers = 2)).use { w ->
            val x = w.hostTensor(DType.I64, 1)
            val dependentRan = AtomicInteger()
            val e = shouldThrow<TaskFailedException> {
                w.run {
                    submit(Target.Sub, { error("producer broke") }, TaskArgs.build { output(x) }, "producer")
                    submit(Target.Sub, { dependentRan.incrementAndGet() }, TaskArgs.build { input(x) }, "consumer")
                }
            }
            e.taskName shouldBe "producer"
            dependentRan.get() shouldBe 0
        }
    }

    test("a consumer bound for a next-level child goes through the scheduler, not onto the sub worker") {
        Worker(WorkerConfig(subWorkers = 1, nextLevel = listOf(NextLevelChild.Plain))).use { w ->
            val x = w.hostTensor(DType.I64, 1)
            val where = ConcurrentHashMap<String, String>()
            w.run {
                submit(Target.Sub, { where["producer"] = Thread.currentThread().name }, TaskArgs.build { output(x) }, "producer")
                submit(Target.Next(0), { where["consumer"] = Thread.currentThread().name }, TaskArgs.build { input(x) }, "consumer")
            }
            where["producer"] shouldBe "strata-L3-sub#0"
            where["consumer"] shouldBe "strata-L3-chip#0"
        }
    }

    test("back-to-back one-task runs: each handle completes, none is lost, the worker stays usable") {
        Worker(WorkerConfig(subWorkers = 2)).use { w ->
            val count = AtomicInteger()
            repeat(2_000) { w.run { submit(Target.Sub, { count.incrementAndGet() }, TaskArgs.EMPTY) } }
            count.get() shouldBe 2_000
            // Admission is returned by the scheduler right after each handle completes.
            val handles = List(2) { w.submit { submit(Target.Sub, { count.incrementAndGet() }, TaskArgs.EMPTY) } }
            handles.forEach { it.result(HANG_GUARD) }
            waitUntil("both runs fully finished") { handles.all { it.isDone } }
            count.get() shouldBe 2_002
        }
    }
})
