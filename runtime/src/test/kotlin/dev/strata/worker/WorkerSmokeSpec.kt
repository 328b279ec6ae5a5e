package dev.strata.worker

import dev.strata.error.TaskFailedException
import dev.strata.task.TaskArgs
import dev.strata.task.Target
import dev.strata.tensor.DType
import io.kotest.assertions.throwables.shouldThrow
import io.kotest.core.spec.style.FunSpec
import io.kotest.matchers.shouldBe
import io.kotest.matchers.string.shouldContain

class WorkerSmokeSpec : FunSpec({
    test("a chain of dependent tasks runs in order on a pool") {
        Worker(WorkerConfig(subWorkers = 4)).use { w ->
            val x = w.hostTensor(DType.I64, 1)
            w.run {
                repeat(1000) { i ->
                    submit(Target.Sub, { x.setLong(0, x.getLong(0) * 3 + i) }, TaskArgs.build { inout(x) })
                }
            }
            var expect = 0L
            repeat(1000) { expect = expect * 3 + it }
            x.getLong(0) shouldBe expect
        }
    }

    test("a failing task fails the run and the next run works") {
        Worker(WorkerConfig(subWorkers = 2)).use { w ->
            val e = shouldThrow<TaskFailedException> {
                w.run { submit(Target.Sub, { error("boom") }, TaskArgs.EMPTY, "exploder") }
            }
            e.message shouldContain "exploder"
            e.message shouldContain "L3 sub#"
            e.message shouldContain "boom"
            w.run { submit(Target.Sub, { }, TaskArgs.EMPTY) }
        }
    }

    test("a task that starts a run on its own worker fails at once instead of deadlocking") {
        Worker(WorkerConfig(subWorkers = 1)).use { w ->
            val e = shouldThrow<TaskFailedException> {
                w.run { submit(Target.Sub, { w.run { } }, TaskArgs.EMPTY, "recursive") }
            }
            e.errorClass shouldBe IllegalStateException::class.java.name
            e.errorMessage shouldContain "started a run on its own worker"
            e.errorMessage shouldContain "L3 sub#0"
        }
    }
})
