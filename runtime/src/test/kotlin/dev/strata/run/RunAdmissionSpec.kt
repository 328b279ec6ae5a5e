package dev.strata.run

import dev.strata.task.TaskArgs
import dev.strata.task.Target
import dev.strata.tensor.DType
import dev.strata.testing.background
import dev.strata.worker.Worker
import dev.strata.worker.WorkerConfig
import io.kotest.assertions.throwables.shouldThrow
import io.kotest.core.spec.style.FunSpec
import io.kotest.matchers.collections.shouldContainExactly
import io.kotest.matchers.shouldBe
import java.util.concurrent.ConcurrentLinkedQueue
import java.util.concurrent.CountDownLatch
import java.util.concurrent.atomic.AtomicBoolean
import java.util.concurrent.atomic.AtomicInteger
import kotlin.time.Duration.Companion.seconds
import dev.strata.error.RunCancelledException
import dev.strata.error.TaskFailedException
import dev.strata.testing.awaitOrFail
import dev.strata.testing.getOrFail

/**
 * Run admission (DESIGN.md §4): two runs in flight at once, a third waits; runs execute in admission
 * order; a failed or cancelled run leaves the next one untouched.
 */
class RunAdmissionSpec : FunSpec({
    timeout = 60_000L

    test("two runs are admitted at once; a third submit blocks until the first run finished") {
        Worker(WorkerConfig(subWorkers = 2)).use { w ->
            val gate = CountDownLatch(1)
            val releasing = AtomicBoolean(false)
            try {
                val h1 = w.submit { submit(Target.Sub, { gate.awaitOrFail("gate") }, TaskArgs.EMPTY, "r1") }
                val h2 = w.submit { submit(Target.Sub, { }, TaskArgs.EMPTY, "r2") } // admitted at once, not blocked
                h1.isDone shouldBe false
                val third = background("third") {
                    val h3 = w.submit { submit(Target.Sub, { }, TaskArgs.EMPTY, "r3") }
                    Triple(h3, releasing.get(), h1.isDone)
                }
                Thread.sleep(300) // a window in which a third admission would slip through
                releasing.set(true)
                gate.countDown()
                val (h3, admittedAfterRelease, firstDoneAtAdmission) = third.getOrFail("the third submit")
                admittedAfterRelease shouldBe true
                firstDoneAtAdmission shouldBe true
                h1.result(10.seconds)
                h2.result(10.seconds)
                h3.result(10.seconds)
            } finally {
                gate.countDown()
            }
        }
    }

    test("runs execute in admission order: no task of run 2 starts before run 1 is done") {
        Worker(WorkerConfig(subWorkers = 4)).use { w ->
            val x = w.hostTensor(DType.I32, 1)
            val events = ConcurrentLinkedQueue<String>()
            val gate = CountDownLatch(1)
            try {
                val h1 = w.submit {
                    submit(Target.Sub, {
                        events += "r1-first-start"
                        gate.awaitOrFail("gate")
                        events += "r1-first-end"
                    }, TaskArgs.build { output(x) }, "r1-first")
                    submit(Target.Sub, { events += "r1-second" }, TaskArgs.build { input(x) }, "r1-second")
                }
                val h2 = w.submit {
                    repeat(3) { i -> submit(Target.Sub, { events += "r2-$i" }, TaskArgs.EMPTY, "r2-$i") }
                }
                Thread.sleep(200) // idle sub workers: a scheduler that ignored run order would start run 2 now
                gate.countDown()
                h1.result(10.seconds)
                h2.result(10.seconds)
            } finally {
                gate.countDown()
            }
            val order = events.toList()
            order.take(3) shouldContainExactly listOf("r1-first-start", "r1-first-end", "r1-second")
            order.drop(3).toSet() shouldBe setOf("r2-0", "r2-1", "r2-2")
        }
    }

    test("a run that fails while the next run is admitted leaves that run untouched") {
        Worker(WorkerConfig(subWorkers = 2)).use { w ->
            val x = w.hostTensor(DType.I64, 1)
            val gate = CountDownLatch(1)
            val skippedRan = AtomicBoolean(false)
            var read = -1L
            try {
                val h1 = w.submit {
                    submit(Target.Sub, {
                        gate.awaitOrFail("gate")
                        throw IllegalStateException("run 1 failed")
                    }, TaskArgs.build { output(x) }, "bad")
                    submit(Target.Sub, { skippedRan.set(true) }, TaskArgs.build { input(x) }, "after-bad")
                }
                val h2 = w.submit {
                    submit(Target.Sub, { x.setLong(0, 42) }, TaskArgs.build { output(x) }, "write")
                    submit(Target.Sub, { read = x.getLong(0) }, TaskArgs.build { input(x) }, "read")
                }
                gate.countDown()
                shouldThrow<TaskFailedException> { h1.result(10.seconds) }.errorMessage shouldBe "run 1 failed"
                h2.result(10.seconds)
                h2.error shouldBe null
            } finally {
                gate.countDown()
            }
            read shouldBe 42L
            skippedRan.get() shouldBe false
            w.run { submit(Target.Sub, { x.setLong(0, 7) }, TaskArgs.build { inout(x) }) }
            x.getLong(0) shouldBe 7L
        }
    }

    test("cancelling an admitted run that waits behind another skips all of its tasks and spares the other run") {
        Worker(WorkerConfig(subWorkers = 2)).use { w ->
            val gate = CountDownLatch(1)
            val firstRan = AtomicBoolean(false)
            val cancelledRan = AtomicInteger()
            try {
                val h1 = w.submit {
                    submit(Target.Sub, {
                        gate.awaitOrFail("gate")
                        firstRan.set(true)
                    }, TaskArgs.EMPTY, "r1")
                }
                val h2 = w.submit { repeat(5) { submit(Target.Sub, { cancelledRan.incrementAndGet() }, TaskArgs.EMPTY, "r2") } }
                h2.cancel()
                gate.countDown()
                h1.result(10.seconds)
                shouldThrow<RunCancelledException> { h2.result(10.seconds) }.runId shouldBe h2.id
            } finally {
                gate.countDown()
            }
            firstRan.get() shouldBe true
            cancelledRan.get() shouldBe 0
            val ran = AtomicBoolean(false)
            w.run { submit(Target.Sub, { ran.set(true) }, TaskArgs.EMPTY) }
            ran.get() shouldBe true
        }
    }

    test("many failing runs in a row leave the worker usable and release every admission") {
        Worker(WorkerConfig(subWorkers = 2)).use { w ->
            repeat(20) { i ->
                shouldThrow<TaskFailedException> {
                    w.run { submit(Target.Sub, { throw IllegalStateException("run $i") }, TaskArgs.EMPTY) }
                }.errorMessage shouldBe "run $i"
            }
            val ran = AtomicInteger()
            // If a failed run kept its admission, this submit would block forever: bound it.
            background("final run") { w.run { repeat(4) { submit(Target.Sub, { ran.incrementAndGet() }, TaskArgs.EMPTY) } } }
                .getOrFail("a run after 20 failed runs")
            ran.get() shouldBe 4
        }
    }
})
