package dev.strata.run

import dev.strata.dslless.submitTo
import dev.strata.task.TaskCallable
import dev.strata.task.Target
import dev.strata.testing.HANG_GUARD
import dev.strata.testing.background
import dev.strata.worker.Worker
import dev.strata.worker.WorkerConfig
import io.kotest.assertions.throwables.shouldThrow
import io.kotest.core.spec.style.FunSpec
import io.kotest.matchers.shouldBe
import java.util.concurrent.CountDownLatch
import java.util.concurrent.TimeUnit
import java.util.concurrent.atomic.AtomicBoolean
import java.util.concurrent.atomic.AtomicReference
import dev.strata.error.RunCancelledException
import dev.strata.error.TaskFailedException
import dev.strata.task.Gate

class GateSpec : FunSpec({
    fun worker() = Worker(WorkerConfig(level = 3, subWorkers = 2))

    test("tasks submitted after a gate wait until it is opened from outside the DAG; others do not") {
        worker().use { w ->
            val ranAfter = AtomicBoolean()
            val independentRan = CountDownLatch(1)
            val gate = AtomicReference<Gate>()
            val handle = w.submit {
                val g = gate("peer-ready").also { gate.set(it) }
                after(g) { submitTo(Target.Sub, TaskCallable { ranAfter.set(true) }, name = "after") }
                submitTo(Target.Sub, TaskCallable { independentRan.countDown() }, name = "independent")
            }
            independentRan.await(HANG_GUARD.inWholeMilliseconds, TimeUnit.MILLISECONDS) shouldBe true
            handle.isDone shouldBe false
            ranAfter.get() shouldBe false // the gate is closed, so its waiter cannot have run
            gate.get().isOpen shouldBe false
            background("open") { gate.get().open() }.get()
            handle.result(HANG_GUARD)
            ranAfter.get() shouldBe true
            gate.get().isOpen shouldBe true
            gate.get().open() // idempotent
        }
    }

    test("a run that fails skips its closed gates and their waiters, and finishes") {
        worker().use { w ->
            val ranAfter = AtomicBoolean()
            val e = shouldThrow<TaskFailedException> {
                w.submit {
                    val g = gate()
                    after(g) { submitTo(Target.Sub, TaskCallable { ranAfter.set(true) }, name = "after") }
                    submitTo(Target.Sub, TaskCallable { error("boom") }, name = "fails")
                }.result(HANG_GUARD)
            }
            e.taskName shouldBe "fails"
            ranAfter.get() shouldBe false
        }
    }

    test("cancelling a run with a closed gate finishes it") {
        worker().use { w ->
            val handle = w.submit {
                val g = gate()
                after(g) { submitTo(Target.Sub, TaskCallable { }, name = "after") }
            }
            handle.cancel()
            shouldThrow<RunCancelledException> { handle.result(HANG_GUARD) }
            w.run { submitTo(Target.Sub, TaskCallable { }) } // the worker is fine
        }
    }
})
