package dev.strata.worker

import dev.strata.graph.Scope
import dev.strata.task.Orchestrator
import dev.strata.error.ScopeException
import dev.strata.error.TaskFailedException
import dev.strata.task.TaskArgs
import dev.strata.task.Target
import dev.strata.tensor.DType
import dev.strata.testing.HANG_GUARD
import dev.strata.testing.engineRun
import dev.strata.testing.waitUntil
import dev.strata.testing.waitUntilRunFailed
import io.kotest.assertions.throwables.shouldThrow
import io.kotest.core.spec.style.FunSpec
import io.kotest.matchers.ints.shouldBeLessThanOrEqual
import io.kotest.matchers.shouldBe
import io.kotest.matchers.string.shouldContain
import java.util.concurrent.CountDownLatch
import java.util.concurrent.TimeUnit
import java.util.concurrent.atomic.AtomicBoolean
import java.util.concurrent.atomic.AtomicInteger
import kotlin.time.Duration.Companion.seconds
import dev.strata.testing.awaitOrFail

/** Scopes (DESIGN.md §4): nesting limit, non-blocking non-throwing end, and reclamation on consumption. */
class ScopeSpec : FunSpec({
    timeout = 60_000L

    /** Opens [depth] nested scopes and returns the depth reached. */
    suspend fun Orchestrator.nest(depth: Int, innermost: suspend Orchestrator.() -> Unit = {}): Int =
        if (depth == 0) {
            innermost()
            0
        } else {
            scope { 1 + nest(depth - 1, innermost) }
        }

    test("scopes nest 64 deep; the 65th throws ScopeException naming the limit") {
        Worker(WorkerConfig(subWorkers = 1)).use { w ->
            val ran = AtomicInteger()
            var error: ScopeException? = null
            w.run {
                // A task and an alloc at the deepest level (depths beyond 3 share the last heap ring).
                nest(Scope.MAX_DEPTH) {
                    val t = alloc(DType.I32, 4)
                    submit(Target.Sub, { ran.incrementAndGet() }, TaskArgs.build { output(t) }, "deepest")
                } shouldBe 64
                error = shouldThrow<ScopeException> { nest(Scope.MAX_DEPTH + 1) }
                // The failed nesting unwound every scope it opened: the full depth is available again.
                nest(Scope.MAX_DEPTH) { submit(Target.Sub, { ran.incrementAndGet() }, TaskArgs.EMPTY) } shouldBe 64
            }
            error!!.message shouldContain "64"
            ran.get() shouldBe 2
        }
    }

    test("ending a scope never waits for its tasks") {
        Worker(WorkerConfig(subWorkers = 1)).use { w ->
            val gate = CountDownLatch(1)
            val finished = AtomicBoolean(false)
            var finishedWhenScopeEnded: Boolean? = null
            try {
                w.run {
                    scope {
                        submit(Target.Sub, {
                            gate.await(5, TimeUnit.SECONDS) // bounded: a waiting scope end would see it finish
                            finished.set(true)
                        }, TaskArgs.EMPTY, "blocked")
                    }
                    finishedWhenScopeEnded = finished.get()
                    gate.countDown()
                }
            } finally {
                gate.countDown()
            }
            finishedWhenScopeEnded shouldBe false
            finished.get() shouldBe true
        }
    }

    test("ending a scope never throws the error of a task that failed inside it") {
        Worker(WorkerConfig(subWorkers = 1)).use { w ->
            var afterScope = false
            val e = shouldThrow<TaskFailedException> {
                w.run {
                    scope {
                        submit(Target.Sub, { throw IllegalStateException("inside the scope") }, TaskArgs.EMPTY, "failing")
                        waitUntilRunFailed() // the failure is recorded before the scope ends
                    }
                    afterScope = true
                }
            }
            afterScope shouldBe true
            e.errorMessage shouldBe "inside the scope"
        }
    }

    test("consumed tasks give back their slots: 10 x taskWindow tasks in per-iteration scopes complete") {
        val window = 4
        Worker(WorkerConfig(subWorkers = 2, taskWindow = window, backPressureTimeout = 5.seconds)).use { w ->
            val ran = AtomicInteger()
            val x = w.hostTensor(DType.I64, 1)
            w.run {
                repeat(10 * window) { i ->
                    scope {
                        submit(Target.Sub, { ran.incrementAndGet() }, TaskArgs.EMPTY, "independent$i")
                        // A dependent chain across iterations: each holds a consumer reference on the previous one.
                        submit(Target.Sub, { x.setLong(0, x.getLong(0) + 1) }, TaskArgs.build { inout(x) }, "chain$i")
                    }
                }
            }
            ran.get() shouldBe 10 * window
            x.getLong(0) shouldBe 10L * window
        }
    }

    test("consumed allocations give back their bytes: allocs in per-iteration scopes exceed heapRingBytes in total") {
        val ringBytes = 1024L
        Worker(WorkerConfig(subWorkers = 2, heapRingBytes = ringBytes, backPressureTimeout = 5.seconds)).use { w ->
            val acc = w.hostTensor(DType.I64, 1)
            val iterations = 100
            w.run {
                repeat(iterations) { i ->
                    scope {
                        val t = alloc(DType.I64, 32) // 256 B: four fit at once, 25 KiB in total
                        submit(Target.Sub, { t.setLong(31, i.toLong()) }, TaskArgs.build { output(t) }, "fill$i")
                        submit(Target.Sub, { acc.setLong(0, acc.getLong(0) + t.getLong(31)) }, TaskArgs.build {
                            input(t)
                            inout(acc)
                        }, "sum$i")
                    }
                }
            }
            acc.getLong(0) shouldBe (0 until iterations).sumOf { it.toLong() }
        }
    }

    test("a scope whose tasks already finished reclaims their slots and bytes when it ends") {
        // Here the scope's reference is the last one: ending the scope itself must consume the tasks.
        Worker(WorkerConfig(subWorkers = 1, taskWindow = 3, heapRingBytes = 1024, backPressureTimeout = 2.seconds)).use { w ->
            val ran = AtomicInteger()
            w.run {
                val run = engineRun
                repeat(20) { i ->
                    scope {
                        val t = alloc(DType.U8, 600) // two of these never fit in the 1024 B ring at once
                        submit(Target.Sub, { t.setByteAt(0, 1); ran.incrementAndGet() }, TaskArgs.build { output(t) }, "w$i")
                        submit(Target.Sub, { ran.incrementAndGet() }, TaskArgs.build { input(t) }, "r$i")
                        waitUntil("every task of iteration $i is terminal") { run.pending.get() == 1L }
                    }
                }
            }
            ran.get() shouldBe 40
        }
    }

    test("failed and cancelled runs leave no slot or heap byte behind") {
        Worker(WorkerConfig(subWorkers = 2, taskWindow = 4, heapRingBytes = 1024, backPressureTimeout = 2.seconds)).use { w ->
            repeat(10) { i ->
                shouldThrow<TaskFailedException> {
                    w.run {
                        scope {
                            val t = alloc(DType.U8, 600)
                            submit(Target.Sub, { error("fail $i") }, TaskArgs.build { output(t) }, "failing")
                            runCatching { submit(Target.Sub, { }, TaskArgs.build { input(t) }, "skipped") }
                        }
                        val top = alloc(DType.U8, 300) // depth 0: held until the run's end
                        runCatching { submit(Target.Sub, { }, TaskArgs.build { input(top) }, "late") }
                    }
                }
                val gate = CountDownLatch(1)
                try {
                    val h = w.submit {
                        val t = alloc(DType.U8, 300)
                        submit(Target.Sub, { gate.awaitOrFail("gate") }, TaskArgs.build { output(t) }, "held")
                        submit(Target.Sub, { }, TaskArgs.build { input(t) }, "cancelled")
                    }
                    h.cancel()
                    gate.countDown()
                    h.join(HANG_GUARD) shouldBe true
                } finally {
                    gate.countDown()
                }
            }
            // Everything came back: the whole window of slots, and the whole ring at depths 0 and 1.
            val ran = AtomicInteger()
            w.run {
                scope { alloc(DType.U8, 1024) }
                val t = alloc(DType.U8, 1024)
                submit(Target.Sub, { ran.incrementAndGet() }, TaskArgs.build { output(t) })
                repeat(2) { submit(Target.Sub, { ran.incrementAndGet() }, TaskArgs.EMPTY) }
            }
            ran.get() shouldBe 3
        }
    }

    test("consumed tasks leave the TensorMap: its size stays bounded over many scopes") {
        val window = 8
        Worker(WorkerConfig(subWorkers = 2, taskWindow = window, backPressureTimeout = 5.seconds)).use { w ->
            var maxEntries = 0
            w.run {
                repeat(500) { i ->
                    scope {
                        // A fresh buffer each time: only erasure (never a later lookup) can drop the entries.
                        val b = w.hostTensor(DType.I32, 4, label = "b$i")
                        submit(Target.Sub, { b.setInt(0, i) }, TaskArgs.build { output(b) }, "w$i")
                    }
                    maxEntries = maxOf(maxEntries, engineRun.tensorMap.size)
                }
            }
            // Live tasks hold at most `window` slots; a few consumed ones may wait for the next submit to erase them.
            maxEntries shouldBeLessThanOrEqual 2 * window + 2
        }
    }
})
