package dev.strata.run

import dev.strata.task.TaskArgs
import dev.strata.task.Target
import dev.strata.tensor.DType
import dev.strata.testing.background
import dev.strata.testing.engineRun
import dev.strata.testing.waitUntil
import dev.strata.testing.waitUntilRunFailed
import dev.strata.worker.NextLevelChild
import dev.strata.worker.Worker
import dev.strata.worker.WorkerConfig
import io.kotest.assertions.throwables.shouldThrow
import io.kotest.core.spec.style.FunSpec
import io.kotest.matchers.shouldBe
import io.kotest.matchers.string.shouldContain
import io.kotest.matchers.string.shouldStartWith
import io.kotest.matchers.types.shouldBeSameInstanceAs
import java.util.concurrent.CountDownLatch
import java.util.concurrent.atomic.AtomicBoolean
import java.util.concurrent.atomic.AtomicInteger
import dev.strata.error.TaskFailedException
import dev.strata.testing.awaitOrFail

/** Raised by a task body; a named function so the stack text can be checked for it. */
private fun explodeDeepInTheKernel(): Nothing = throw IllegalArgumentException("kernel blew up: bad tile 7")

private class ProgramBug(message: String) : RuntimeException(message)

/** Error propagation (DESIGN.md §6): what a failure reports, fail-fast, skipping, first error wins, nesting. */
class ErrorsSpec : FunSpec({
    timeout = 60_000L

    test("run of a failing task throws TaskFailedException naming worker path, task, class, message and stack") {
        Worker(WorkerConfig(subWorkers = 1)).use { w ->
            val e = shouldThrow<TaskFailedException> {
                w.run { submit(Target.Sub, { explodeDeepInTheKernel() }, TaskArgs.EMPTY, "tiler") }
            }
            e.workerPath shouldBe "L3 sub#0"
            e.taskName shouldBe "tiler"
            e.errorClass shouldBe "java.lang.IllegalArgumentException"
            e.errorMessage shouldBe "kernel blew up: bad tile 7"
            e.errorStack shouldStartWith "java.lang.IllegalArgumentException: kernel blew up: bad tile 7"
            e.errorStack shouldContain "explodeDeepInTheKernel"
            e.cause!!.javaClass shouldBe IllegalArgumentException::class.java
            e.message shouldContain "L3 sub#0"
            e.message shouldContain "'tiler'"
            e.message shouldContain "java.lang.IllegalArgumentException"
            e.message shouldContain "kernel blew up: bad tile 7"
        }
    }

    test("a long error message and stack reach the caller untruncated") {
        Worker(WorkerConfig(subWorkers = 1)).use { w ->
            val long = "x".repeat(10_000) + "END"
            val e = shouldThrow<TaskFailedException> {
                w.run { submit(Target.Sub, { throw IllegalStateException(long) }, TaskArgs.EMPTY, "verbose") }
            }
            e.errorMessage shouldBe long
            e.errorStack shouldContain "END"
        }
    }

    test("a submit after the run failed throws the run's error at once (fail-fast)") {
        Worker(WorkerConfig(subWorkers = 2)).use { w ->
            val lateRan = AtomicBoolean(false)
            var firstError: Throwable? = null
            var failFast: Throwable? = null
            val e = shouldThrow<TaskFailedException> {
                w.run {
                    submit(Target.Sub, { throw IllegalStateException("first failure") }, TaskArgs.EMPTY, "failing")
                    waitUntilRunFailed()
                    firstError = engineRun.firstError.get()
                    failFast = shouldThrow<TaskFailedException> {
                        submit(Target.Sub, { lateRan.set(true) }, TaskArgs.EMPTY, "late")
                    }
                    throw failFast!!
                }
            }
            failFast shouldBeSameInstanceAs firstError
            e shouldBeSameInstanceAs firstError
            e.taskName shouldBe "failing"
            lateRan.get() shouldBe false
        }
    }

    test("dependents of a failed task are skipped and never run; independent tasks still run") {
        Worker(WorkerConfig(subWorkers = 2)).use { w ->
            val x = w.hostTensor(DType.F32, 4, label = "x")
            val y = w.hostTensor(DType.F32, 4, label = "y")
            val z = w.hostTensor(DType.F32, 4, label = "z")
            val gate = CountDownLatch(1)
            val dependentsRan = AtomicInteger()
            val independentRan = AtomicBoolean(false)
            val independentStarted = CountDownLatch(1)
            try {
                val e = shouldThrow<TaskFailedException> {
                    w.run {
                        // The producer fails only after every consumer was submitted and attached to it.
                        submit(Target.Sub, {
                            gate.awaitOrFail("gate")
                            throw IllegalStateException("producer failed")
                        }, TaskArgs.build { output(x) }, "producer")
                        submit(Target.Sub, { dependentsRan.incrementAndGet() }, TaskArgs.build { input(x); output(y) }, "consumer")
                        submit(Target.Sub, { dependentsRan.incrementAndGet() }, TaskArgs.build { input(y); output(z) }, "consumer2")
                        submit(Target.Sub, {
                            independentRan.set(true)
                            independentStarted.countDown()
                        }, TaskArgs.build { output(w.hostTensor(DType.F32, 1)) }, "independent")
                        // Started before the failure: tasks not yet started when a run fails are skipped.
                        independentStarted.awaitOrFail("the independent task to start")
                        gate.countDown()
                    }
                }
                e.taskName shouldBe "producer"
            } finally {
                gate.countDown()
            }
            dependentsRan.get() shouldBe 0
            independentRan.get() shouldBe true
        }
    }

    test("a consumer submitted after its producer already failed is skipped, never run") {
        Worker(WorkerConfig(subWorkers = 1)).use { w ->
            val x = w.hostTensor(DType.F32, 4)
            val ran = AtomicBoolean(false)
            shouldThrow<TaskFailedException> {
                w.run {
                    submit(Target.Sub, { error("producer failed") }, TaskArgs.build { output(x) }, "producer")
                    // Race the failure on purpose: whether the submit sees it (fail-fast) or the producer fails while
                    // the consumer waits, the consumer must never run.
                    runCatching { submit(Target.Sub, { ran.set(true) }, TaskArgs.build { input(x) }, "consumer") }
                }
            }
            ran.get() shouldBe false
        }
    }

    test("an exception thrown by the program surfaces from run, after running tasks finished and unstarted ones were skipped") {
        Worker(WorkerConfig(subWorkers = 1)).use { w ->
            val x = w.hostTensor(DType.F32, 4)
            val gate = CountDownLatch(1)
            val started = CountDownLatch(1)
            val runningFinished = AtomicBoolean(false)
            val unstartedRan = AtomicInteger()
            val bug = ProgramBug("the program itself failed")
            try {
                val thrown = shouldThrow<ProgramBug> {
                    w.run {
                        val run = engineRun
                        submit(Target.Sub, {
                            started.countDown()
                            gate.awaitOrFail("gate")
                            runningFinished.set(true)
                        }, TaskArgs.build { output(x) }, "running")
                        submit(Target.Sub, { unstartedRan.incrementAndGet() }, TaskArgs.build { input(x) }, "dependent")
                        submit(Target.Sub, { unstartedRan.incrementAndGet() }, TaskArgs.EMPTY, "queued") // waits for the one sub
                        started.awaitOrFail("the first task to start") // it must be running when the program throws
                        // Let the running task finish only once the throw below has failed the run.
                        background("release") {
                            waitUntil("the program's exception failed the run") { run.failed }
                            gate.countDown()
                        }
                        throw bug
                    }
                }
                thrown shouldBeSameInstanceAs bug
                runningFinished.get() shouldBe true // run returned only after the running task finished
            } finally {
                gate.countDown()
            }
            unstartedRan.get() shouldBe 0
            // The failed run does not poison the next one.
            val ran = AtomicBoolean(false)
            w.run { submit(Target.Sub, { ran.set(true) }, TaskArgs.build { inout(x) }) }
            ran.get() shouldBe true
        }
    }

    test("the first error wins: of two failing tasks, exactly the first is reported") {
        Worker(WorkerConfig(subWorkers = 2)).use { w ->
            val gate = CountDownLatch(1)
            val secondThrew = AtomicBoolean(false)
            var handle: RunHandle? = null
            try {
                val e = shouldThrow<TaskFailedException> {
                    handle = w.submit {
                        submit(Target.Sub, {
                            gate.awaitOrFail("gate")
                            secondThrew.set(true)
                            throw IllegalStateException("second")
                        }, TaskArgs.EMPTY, "second")
                        submit(Target.Sub, { throw IllegalStateException("first") }, TaskArgs.EMPTY, "first")
                        waitUntilRunFailed()
                        gate.countDown()
                    }
                    handle!!.result()
                }
                e.errorMessage shouldBe "first"
                e.taskName shouldBe "first"
                handle!!.error shouldBeSameInstanceAs e
                secondThrew.get() shouldBe true
            } finally {
                gate.countDown()
            }
        }
    }

    test("errors nest: a failure in a level-3 sub worker reaches the level-4 caller with both prefixes") {
        Worker(WorkerConfig(level = 3, subWorkers = 1)).use { l3 ->
            Worker(WorkerConfig(level = 4, nextLevel = listOf(NextLevelChild.Nested(l3)))).use { l4 ->
                val e = shouldThrow<TaskFailedException> {
                    l4.run {
                        submit(Target.Next(0), { ctx ->
                            ctx.worker.run { submit(Target.Sub, { throw IllegalStateException("deep") }, TaskArgs.EMPTY, "inner") }
                        }, TaskArgs.EMPTY, "outer")
                    }
                }
                e.workerPath shouldBe "L4 node#0 / L3 sub#0"
                e.errorClass shouldBe "java.lang.IllegalStateException"
                e.errorMessage shouldBe "deep"
                e.taskName shouldBe "inner"
                e.errorStack shouldContain "java.lang.IllegalStateException: deep"
                e.message shouldContain "L4 node#0 / L3 sub#0"
                // Neither level is poisoned by the failure.
                val ran = AtomicBoolean(false)
                l4.run { submit(Target.Next(0), { ctx -> ctx.worker.run { submit(Target.Sub, { ran.set(true) }, TaskArgs.EMPTY) } }, TaskArgs.EMPTY) }
                ran.get() shouldBe true
            }
        }
    }

    test("asking a plain next-level child for its nested worker fails the task, naming the child") {
        Worker(WorkerConfig(level = 3, nextLevel = listOf(NextLevelChild.Plain))).use { w ->
            val e = shouldThrow<TaskFailedException> {
                w.run { submit(Target.Next(0), { ctx -> ctx.worker.run { } }, TaskArgs.EMPTY, "wants-nested") }
            }
            e.workerPath shouldBe "L3 chip#0"
            e.errorClass shouldBe "java.lang.IllegalStateException"
            e.errorMessage!! shouldContain "L3 chip#0, which has no nested worker"
        }
    }

    test("errors nest three levels: L5 pod / L4 node / L3 sub") {
        Worker(WorkerConfig(level = 3, subWorkers = 1)).use { l3 ->
            Worker(WorkerConfig(level = 4, nextLevel = listOf(NextLevelChild.Nested(l3)))).use { l4 ->
                Worker(WorkerConfig(level = 5, nextLevel = listOf(NextLevelChild.Plain, NextLevelChild.Nested(l4)))).use { l5 ->
                    val e = shouldThrow<TaskFailedException> {
                        l5.run {
                            submit(Target.Next(1), { c5 ->
                                c5.worker.run {
                                    submit(Target.Next(0), { c4 ->
                                        c4.worker.run { submit(Target.Sub, { throw UnsupportedOperationException("three down") }, TaskArgs.EMPTY, "leaf") }
                                    }, TaskArgs.EMPTY, "mid")
                                }
                            }, TaskArgs.EMPTY, "top")
                        }
                    }
                    e.workerPath shouldBe "L5 pod#1 / L4 node#0 / L3 sub#0"
                    e.errorClass shouldBe "java.lang.UnsupportedOperationException"
                    e.errorMessage shouldBe "three down"
                    e.taskName shouldBe "leaf"
                }
            }
        }
    }
})
