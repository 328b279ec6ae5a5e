package dev.strata.worker

import dev.strata.error.InvalidConfigException
import dev.strata.error.RunCancelledException
import dev.strata.error.StrataException
import dev.strata.error.WorkerClosedException
import dev.strata.task.TaskArgs
import dev.strata.task.Target
import dev.strata.testing.background
import dev.strata.testing.waitUntil
import io.kotest.assertions.throwables.shouldThrow
import io.kotest.core.spec.style.FunSpec
import io.kotest.matchers.collections.shouldBeEmpty
import io.kotest.matchers.collections.shouldHaveSize
import io.kotest.matchers.shouldBe
import io.kotest.matchers.string.shouldContain
import io.kotest.matchers.types.shouldBeInstanceOf
import java.util.concurrent.CountDownLatch
import java.util.concurrent.atomic.AtomicBoolean
import kotlin.time.Duration
import kotlin.time.Duration.Companion.milliseconds
import kotlin.time.Duration.Companion.seconds
import dev.strata.testing.awaitOrFail
import dev.strata.testing.getOrFail

/** Names of the live threads of the worker named [name] (and of nothing else). */
private fun threadsOf(name: String): List<String> =
    Thread.getAllStackTraces().keys.filter { it.isAlive && it.name.startsWith("strata-$name-") }.map { it.name }

/** Closing workers, and validating their configuration. */
class WorkerCloseSpec : FunSpec({
    timeout = 60_000L

    test("close stops every thread of the worker and of its nested workers; it is idempotent") {
        val inner = Worker(WorkerConfig(level = 3, subWorkers = 2, name = "CloseInner"))
        val outer = Worker(WorkerConfig(level = 4, subWorkers = 2, nextLevel = listOf(NextLevelChild.Nested(inner)), name = "CloseOuter"))
        try {
            outer.run {
                submit(Target.Next(0), { ctx -> ctx.worker.run { submit(Target.Sub, { }, TaskArgs.EMPTY) } }, TaskArgs.EMPTY)
                submit(Target.Sub, { }, TaskArgs.EMPTY)
            }
            threadsOf("CloseOuter") shouldHaveSize 3 // 2 subs, 1 node (the scheduler has no thread of its own)
            threadsOf("CloseInner") shouldHaveSize 2 // 2 subs
            outer.close()
            outer.isClosed shouldBe true
            inner.isClosed shouldBe true
            threadsOf("CloseOuter").shouldBeEmpty()
            threadsOf("CloseInner").shouldBeEmpty()
            outer.close() // idempotent: no error, nothing to do
            inner.close()
        } finally {
            outer.close()
            inner.close()
        }
    }

    test("submit after close throws WorkerClosedException naming the worker") {
        val w = Worker(WorkerConfig(subWorkers = 1, name = "Closed1"))
        w.close()
        val e = shouldThrow<WorkerClosedException> { w.submit { submit(Target.Sub, { }, TaskArgs.EMPTY) } }
        e.workerPath shouldBe "Closed1"
        e.message shouldContain "Closed1"
        shouldThrow<WorkerClosedException> { w.run { } }
    }

    test("close with a run in flight cancels it after closeTimeout; its handle completes once the task returns") {
        val w = Worker(WorkerConfig(subWorkers = 1, closeTimeout = 200.milliseconds, name = "CloseBusy"))
        val gate = CountDownLatch(1)
        val started = CountDownLatch(1)
        val queuedRan = AtomicBoolean(false)
        try {
            val h = w.submit {
                submit(Target.Sub, {
                    started.countDown()
                    gate.awaitOrFail("gate")
                }, TaskArgs.EMPTY, "stuck")
                submit(Target.Sub, { queuedRan.set(true) }, TaskArgs.EMPTY, "queued")
            }
            started.awaitOrFail("the stuck task to start")
            background("close") { w.close() }.getOrFail("close with a stuck task")
            w.isClosed shouldBe true
            gate.countDown()
            // Nobody may wait forever on a run of a closed worker.
            h.join(5.seconds) shouldBe true
            val error = h.error
            error.shouldBeInstanceOf<StrataException>()
            (error is RunCancelledException || error is WorkerClosedException) shouldBe true
            queuedRan.get() shouldBe false
            waitUntil("the worker's threads to end") { threadsOf("CloseBusy").isEmpty() }
        } finally {
            gate.countDown()
            w.close()
        }
    }

    test("a submit blocked in admission when the worker closes fails with WorkerClosedException") {
        val w = Worker(WorkerConfig(subWorkers = 2, closeTimeout = 100.milliseconds, name = "CloseAdmit"))
        val gate = CountDownLatch(1)
        try {
            val h1 = w.submit { submit(Target.Sub, { gate.awaitOrFail("gate") }, TaskArgs.EMPTY) }
            val h2 = w.submit { submit(Target.Sub, { gate.awaitOrFail("gate") }, TaskArgs.EMPTY) }
            val third = background("third") { w.submit { submit(Target.Sub, { }, TaskArgs.EMPTY) } }
            Thread.sleep(100)
            third.isDone shouldBe false
            background("close") { w.close() }.getOrFail("close")
            shouldThrow<WorkerClosedException> { third.getOrFail("the blocked submit") }
            gate.countDown()
            h1.join(5.seconds) shouldBe true
            h2.join(5.seconds) shouldBe true
        } finally {
            gate.countDown()
            w.close()
        }
    }

    test("an invalid configuration reports every problem at once") {
        val e = shouldThrow<InvalidConfigException> {
            Worker(
                WorkerConfig(
                    level = 9, subWorkers = -1, taskWindow = 0, heapRingBytes = 0,
                    backPressureTimeout = Duration.ZERO, spin = (-1).milliseconds, closeTimeout = (-1).seconds,
                ),
            )
        }
        e.problems shouldHaveSize 7
        e.message shouldContain "level must be 2..6"
        e.message shouldContain "subWorkers must be >= 0, was -1"
        e.message shouldContain "taskWindow must be > 0, was 0"
        e.message shouldContain "heapRingBytes must be > 0, was 0"
        e.message shouldContain "backPressureTimeout must be > 0"
        e.message shouldContain "spin must be >= 0"
        e.message shouldContain "closeTimeout must be >= 0"
    }

    test("nested workers of the wrong level, closed, or listed twice are reported together") {
        Worker(WorkerConfig(level = 2, name = "Chip")).use { chip ->
            val closed = Worker(WorkerConfig(level = 3, name = "Gone")).also { it.close() }
            val e = shouldThrow<InvalidConfigException> {
                WorkerConfig(level = 4, nextLevel = listOf(NextLevelChild.Nested(chip), NextLevelChild.Nested(closed), NextLevelChild.Nested(chip)))
                    .validate()
            }
            e.message shouldContain "nextLevel[0] is a level-2 worker; children of a level-4 worker are level 3"
            e.message shouldContain "nextLevel[1] (Gone) is already closed"
            e.message shouldContain "the same nested worker appears twice"
        }
    }
})
