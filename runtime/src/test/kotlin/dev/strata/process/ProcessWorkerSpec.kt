package dev.strata.process

import dev.strata.dslless.submitTo
import dev.strata.task.TaskArgs
import dev.strata.task.Target
import dev.strata.task.callable
import dev.strata.tensor.DType
import dev.strata.worker.Isolation
import dev.strata.worker.Worker
import dev.strata.worker.WorkerConfig
import io.kotest.core.spec.style.FunSpec
import io.kotest.matchers.shouldBe
import io.kotest.matchers.shouldNotBe

class ProcessWorkerSpec : FunSpec({
    test("process sub workers run named callables on shared tensors and the parent sees the results") {
        Worker(WorkerConfig(level = 3, subWorkers = 2, subIsolation = Isolation.PROCESS)).use { w ->
            w.childPids.size shouldBe 2
            val x = w.hostTensor(DType.I32, 100)
            val pid = w.hostTensor(DType.I64, 1)
            for (i in 0 until 100L) x.setInt(i, i.toInt())
            w.run {
                submitTo(Target.Sub, AddScalar, TaskArgs.build { inout(x); output(pid); scalar(5) })
                submitTo(Target.Sub, Doubler(), TaskArgs.build { inout(x) })
                submitTo(Target.Sub, callable(::negate), TaskArgs.build { inout(x) })
            }
            for (i in 0 until 100L) x.getInt(i) shouldBe -(i.toInt() + 5) * 2
            pid.getLong(0) shouldNotBe ProcessHandle.current().pid()
            (pid.getLong(0) in w.childPids.values) shouldBe true
        }
    }
})
