package dev.strata.graph

import dev.strata.error.BackPressureTimeoutException
import dev.strata.task.TaskArgs
import dev.strata.task.Target
import dev.strata.tensor.DType
import dev.strata.testing.background
import dev.strata.worker.Worker
import dev.strata.worker.WorkerConfig
import io.kotest.assertions.throwables.shouldThrow
import io.kotest.core.spec.style.FunSpec
import io.kotest.matchers.shouldBe
import io.kotest.matchers.string.shouldContain
import java.util.concurrent.CountDownLatch
import java.util.concurrent.atomic.AtomicBoolean
import java.util.concurrent.atomic.AtomicInteger
import kotlin.time.Duration
import kotlin.time.Duration.Companion.milliseconds
import kotlin.time.Duration.Companion.seconds
import dev.strata.testing.awaitOrFail
import dev.strata.testing.getOrFail

/**
 * Back-pressure of the task ring and the heap rings (DESIGN.md §4): a full ring suspends `submit` /
 * `alloc` until something is released, and fails with an error naming the ring and the setting when
 * nothing is released in time.
 *
 * "Suspends until released" is checked causally: the blocked call may only return after the test has
 * flagged that it is about to release the held tasks.
 */
class RingSpec : FunSpec({
    timeout = 60_000L

    val window = 4

    test("task ring: submit number taskWindow+1 suspends while the window is held and resumes once a task is released") {
        Worker(WorkerConfig(subWorkers = window, taskWindow = window, backPressureTimeout = 30.seconds)).use { w ->
            val gate = CountDownLatch(1)
            val releasing = AtomicBoolean(false)
            var returnedAfterRelease: Boolean? = null
            val ran = AtomicInteger()
            try {
                w.run {
                    // Each held task sits in its own ended scope, so only its running state holds its slot.
                    repeat(window) { i ->
                        scope { submit(Target.Sub, { gate.awaitOrFail("gate"); ran.incrementAndGet() }, TaskArgs.EMPTY, "held$i") }
                    }
                    val opener = background("opener") {
                        Thread.sleep(300) // a window in which a non-suspending submit would return early
                        releasing.set(true)
                        gate.countDown()
                    }
                    submit(Target.Sub, { ran.incrementAndGet() }, TaskArgs.EMPTY, "extra")
                    returnedAfterRelease = releasing.get()
                    opener.getOrFail("opener")
                }
            } finally {
                gate.countDown()
            }
            returnedAfterRelease shouldBe true
            ran.get() shouldBe window + 1
        }
    }

    test("task ring: with nothing released, submit fails with BackPressureTimeoutException naming the task ring and taskWindow") {
        Worker(WorkerConfig(subWorkers = 2, taskWindow = window, backPressureTimeout = 300.milliseconds)).use { w ->
            val gate = CountDownLatch(1)
            var error: BackPressureTimeoutException? = null
            val ran = AtomicInteger()
            try {
                w.run {
                    repeat(window) { i -> submit(Target.Sub, { gate.awaitOrFail("gate") }, TaskArgs.EMPTY, "held$i") }
                    error = shouldThrow<BackPressureTimeoutException> {
                        submit(Target.Sub, { ran.incrementAndGet() }, TaskArgs.EMPTY, "one-too-many")
                    }
                    gate.countDown()
                }
            } finally {
                gate.countDown()
            }
            val e = error!!
            e.setting shouldBe "taskWindow"
            e.timeout shouldBe 300.milliseconds
            e.message shouldContain "task ring"
            e.message shouldContain "taskWindow"
            e.message shouldContain "$window"
            ran.get() shouldBe 0
            // The rejected submit took no slot: the worker still runs a full window afterwards.
            w.run { repeat(window) { submit(Target.Sub, { ran.incrementAndGet() }, TaskArgs.EMPTY) } }
            ran.get() shouldBe window
        }
    }

    test("task ring: an uncaught back-pressure timeout surfaces from run as the same exception") {
        Worker(WorkerConfig(subWorkers = 1, taskWindow = 1, backPressureTimeout = 200.milliseconds)).use { w ->
            val gate = CountDownLatch(1)
            var thrown: Throwable? = null
            try {
                val e = shouldThrow<BackPressureTimeoutException> {
                    w.run {
                        submit(Target.Sub, { gate.awaitOrFail("gate") }, TaskArgs.EMPTY, "held")
                        try {
                            submit(Target.Sub, { }, TaskArgs.EMPTY, "blocked")
                        } catch (t: Throwable) {
                            thrown = t
                            gate.countDown()
                            throw t
                        }
                    }
                }
                (e === thrown) shouldBe true
            } finally {
                gate.countDown()
            }
            w.run { submit(Target.Sub, { }, TaskArgs.EMPTY) }
        }
    }

    test("heap ring: an alloc that does not fit suspends while earlier allocations are held and resumes once they are released") {
        Worker(WorkerConfig(subWorkers = 2, heapRingBytes = 1024, backPressureTimeout = 30.seconds)).use { w ->
            val gate = CountDownLatch(1)
            val releasing = AtomicBoolean(false)
            var returnedAfterRelease: Boolean? = null
            try {
                w.run {
                    scope {
                        val held = alloc(DType.U8, 600)
                        submit(Target.Sub, { gate.awaitOrFail("gate") }, TaskArgs.build { output(held) }, "holder")
                    } // the scope ended but the running task still holds the 640 bytes
                    val opener = background("opener") {
                        Thread.sleep(300)
                        releasing.set(true)
                        gate.countDown()
                    }
                    scope {
                        val t = alloc(DType.U8, 600)
                        returnedAfterRelease = releasing.get()
                        submit(Target.Sub, { t.setByteAt(0, 1) }, TaskArgs.build { output(t) }, "writer")
                    }
                    opener.getOrFail("opener")
                }
            } finally {
                gate.countDown()
            }
            returnedAfterRelease shouldBe true
        }
    }

    test("heap ring: with nothing released, alloc fails with BackPressureTimeoutException naming the heap ring and heapRingBytes") {
        Worker(WorkerConfig(subWorkers = 1, heapRingBytes = 1024, backPressureTimeout = 300.milliseconds)).use { w ->
            val gate = CountDownLatch(1)
            var error: BackPressureTimeoutException? = null
            try {
                w.run {
                    scope {
                        val held = alloc(DType.U8, 600)
                        submit(Target.Sub, { gate.awaitOrFail("gate") }, TaskArgs.build { output(held) }, "holder")
                    }
                    scope { error = shouldThrow<BackPressureTimeoutException> { alloc(DType.U8, 600) } }
                    gate.countDown()
                    // After the holder is released the same alloc succeeds (bounded wait for the release).
                    scope { alloc(DType.U8, 600) }
                }
            } finally {
                gate.countDown()
            }
            val e = error!!
            e.setting shouldBe "heapRingBytes"
            e.timeout shouldBe 300.milliseconds
            e.message shouldContain "heap ring"
            e.message shouldContain "heapRingBytes"
            e.message shouldContain "1024"
        }
    }

    test("heap ring: an alloc bigger than the whole ring fails at once, and gives its task slot back") {
        Worker(WorkerConfig(subWorkers = 1, taskWindow = 1, heapRingBytes = 1024, backPressureTimeout = 2.seconds)).use { w ->
            var error: BackPressureTimeoutException? = null
            val ran = AtomicBoolean(false)
            w.run {
                scope { error = shouldThrow<BackPressureTimeoutException> { alloc(DType.U8, 2048) } }
                // taskWindow = 1: this submit times out if the failed alloc kept its slot.
                submit(Target.Sub, { ran.set(true) }, TaskArgs.EMPTY, "after")
            }
            val e = error!!
            e.timeout shouldBe Duration.ZERO // failed without waiting for room
            e.setting shouldBe "heapRingBytes"
            e.message shouldContain "heapRingBytes"
            e.message shouldContain "2048"
            ran.get() shouldBe true
        }
    }

    test("heap ring: each scope depth has its own ring: a full ring at one depth does not block allocs at another") {
        Worker(WorkerConfig(subWorkers = 1, heapRingBytes = 1024, backPressureTimeout = 2.seconds)).use { w ->
            val gate = CountDownLatch(1)
            try {
                w.run {
                    scope {
                        val held = alloc(DType.U8, 1000) // fills the depth-1 ring
                        submit(Target.Sub, { gate.awaitOrFail("gate") }, TaskArgs.build { output(held) }, "holder")
                        scope { scope { alloc(DType.U8, 1000) } } // depth 3: its own ring, must not wait
                    }
                    gate.countDown()
                }
            } finally {
                gate.countDown()
            }
        }
    }
})
