package dev.strata.run

import dev.strata.task.TaskArgs
import dev.strata.task.Target
import dev.strata.testing.waitUntil
import dev.strata.worker.Worker
import dev.strata.worker.WorkerConfig
import io.kotest.assertions.throwables.shouldThrow
import io.kotest.core.spec.style.FunSpec
import io.kotest.matchers.shouldBe
import io.kotest.matchers.string.shouldContain
import io.kotest.matchers.types.shouldBeInstanceOf
import io.kotest.matchers.types.shouldBeSameInstanceAs
import kotlinx.coroutines.runBlocking
import java.util.concurrent.CountDownLatch
import java.util.concurrent.atomic.AtomicBoolean
import java.util.concurrent.atomic.AtomicInteger
import kotlin.time.Duration.Companion.milliseconds
import kotlin.time.Duration.Companion.seconds
import dev.strata.error.RunCancelledException
import dev.strata.error.RunTimeoutException
import dev.strata.error.TaskFailedException
import dev.strata.testing.awaitOrFail

/** [RunHandle]: join / result with timeouts, isDone, error, await and cancel. */
class RunHandleSpec : FunSpec({
    timeout = 60_000L

    test("join(timeout) is false while a task blocks and true once it finished; isDone follows") {
        Worker(WorkerConfig(subWorkers = 1)).use { w ->
            val gate = CountDownLatch(1)
            try {
                val h = w.submit { submit(Target.Sub, { gate.awaitOrFail("gate") }, TaskArgs.EMPTY, "blocked") }
                h.isDone shouldBe false
                h.join(100.milliseconds) shouldBe false
                h.isDone shouldBe false
                h.error shouldBe null
                gate.countDown()
                h.join(10.seconds) shouldBe true
                h.isDone shouldBe true
                h.error shouldBe null
                h.result() // no error
            } finally {
                gate.countDown()
            }
        }
    }

    test("result(timeout) throws RunTimeoutException naming the run while it is still running; the run goes on") {
        Worker(WorkerConfig(subWorkers = 1)).use { w ->
            val gate = CountDownLatch(1)
            val finished = AtomicBoolean(false)
            try {
                val h = w.submit {
                    submit(Target.Sub, {
                        gate.awaitOrFail("gate")
                        finished.set(true)
                    }, TaskArgs.EMPTY, "blocked")
                }
                val e = shouldThrow<RunTimeoutException> { h.result(50.milliseconds) }
                e.runId shouldBe h.id
                e.timeout shouldBe 50.milliseconds
                e.message shouldContain "run #${h.id}"
                h.isDone shouldBe false
                gate.countDown()
                h.result(10.seconds)
                finished.get() shouldBe true
            } finally {
                gate.countDown()
            }
        }
    }

    test("join does not throw the run's error; result and error report it") {
        Worker(WorkerConfig(subWorkers = 1)).use { w ->
            val h = w.submit { submit(Target.Sub, { throw IllegalStateException("bad") }, TaskArgs.EMPTY, "failing") }
            h.join(10.seconds) shouldBe true
            h.isDone shouldBe true
            val e = shouldThrow<TaskFailedException> { h.result() }
            e.errorMessage shouldBe "bad"
            h.error shouldBeSameInstanceAs e
        }
    }

    test("await suspends until the run finished and throws its error") {
        Worker(WorkerConfig(subWorkers = 1)).use { w ->
            val ran = AtomicBoolean(false)
            val ok = w.submit { submit(Target.Sub, { Thread.sleep(20); ran.set(true) }, TaskArgs.EMPTY) }
            runBlocking { ok.await() }
            ran.get() shouldBe true
            val failed = w.submit { submit(Target.Sub, { throw IllegalStateException("awaited") }, TaskArgs.EMPTY) }
            val e = shouldThrow<TaskFailedException> { runBlocking { failed.await() } }
            e.errorMessage shouldBe "awaited"
        }
    }

    test("cancel skips tasks that have not started, interrupts the running one, and result throws RunCancelledException") {
        Worker(WorkerConfig(subWorkers = 1)).use { w ->
            val gate = CountDownLatch(1)
            val started = CountDownLatch(1)
            val interrupted = AtomicBoolean(false)
            val unstartedRan = AtomicInteger()
            try {
                val h = w.submit {
                    submit(Target.Sub, {
                        started.countDown()
                        try {
                            gate.awaitOrFail("gate")
                        } catch (e: InterruptedException) {
                            interrupted.set(true)
                            throw e
                        }
                    }, TaskArgs.EMPTY, "running")
                    // One sub worker: these wait in the queue behind the running task.
                    repeat(5) { i -> submit(Target.Sub, { unstartedRan.incrementAndGet() }, TaskArgs.EMPTY, "queued$i") }
                }
                started.awaitOrFail("the first task to start")
                h.cancel()
                h.join(10.seconds) shouldBe true // the gate never opened: the interrupt ended the running task
                val e = shouldThrow<RunCancelledException> { h.result() }
                e.runId shouldBe h.id
                h.error.shouldBeInstanceOf<RunCancelledException>()
            } finally {
                gate.countDown()
            }
            interrupted.get() shouldBe true
            unstartedRan.get() shouldBe 0
            // The worker is unaffected.
            val ran = AtomicBoolean(false)
            w.run { submit(Target.Sub, { ran.set(true) }, TaskArgs.EMPTY) }
            ran.get() shouldBe true
        }
    }

    test("cancel after the run finished changes nothing") {
        Worker(WorkerConfig(subWorkers = 1)).use { w ->
            val h = w.submit { submit(Target.Sub, { }, TaskArgs.EMPTY) }
            h.join(10.seconds) shouldBe true
            h.cancel()
            h.result()
            h.error shouldBe null
        }
    }

    test("cancel twice and concurrently with completion settles on one outcome") {
        Worker(WorkerConfig(subWorkers = 2)).use { w ->
            repeat(50) {
                val h = w.submit { repeat(4) { submit(Target.Sub, { }, TaskArgs.EMPTY) } }
                h.cancel()
                h.cancel()
                h.join(10.seconds) shouldBe true
                val outcome = runCatching { h.result() }.exceptionOrNull()
                if (outcome != null) outcome.shouldBeInstanceOf<RunCancelledException>()
                waitUntil("the run settled") { h.isDone }
            }
            w.run { submit(Target.Sub, { }, TaskArgs.EMPTY) }
        }
    }
})
