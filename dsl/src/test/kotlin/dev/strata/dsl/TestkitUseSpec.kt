package dev.strata.dsl

import dev.strata.task.TaskCallable
import dev.strata.task.TaskContext
import dev.strata.tensor.DType
import dev.strata.testkit.KernelSpec
import dev.strata.testkit.StrataArb
import dev.strata.testkit.TensorSpec
import dev.strata.testkit.assertSerializable
import dev.strata.testkit.shouldRunLikeSequential
import dev.strata.testkit.strataKit
import dev.strata.worker.Isolation
import dev.strata.worker.WorkerConfig
import io.kotest.core.spec.style.FunSpec
import io.kotest.property.PropTestConfig
import io.kotest.property.checkAll

// The user guide's testkit example (§20), as a user would write it for their own kernels.

/** y[i] = k · x[i] (I32). */
object Scale : TaskCallable {
    override fun call(context: TaskContext) {
        val (x, y) = context.tensor(0) to context.tensor(1)
        val k = context.scalar(0).toInt()
        for (i in 0L until y.elementCount) y.setInt(i, k * x.getInt(i))
    }
}

/** z[i] = x[i] − 2 · y[i] (I32). */
object Blend : TaskCallable {
    override fun call(context: TaskContext) {
        val (x, y, z) = Triple(context.tensor(0), context.tensor(1), context.tensor(2))
        for (i in 0L until z.elementCount) z.setInt(i, x.getInt(i) - 2 * y.getInt(i))
    }
}

class TestkitUseSpec : FunSpec({
    val strata = strataKit() // closes workers after each test; fails a test that leaks a child process or a /dev/shm file

    test("random programs of my kernels leave their sequential bytes, in child JVMs") {
        val w = strata.worker(WorkerConfig(level = 3, subWorkers = 4, subIsolation = Isolation.PROCESS))
        val kernels = listOf(KernelSpec("scale", Scale, inputs = 1, outputs = 1, scalars = 1), KernelSpec("blend", Blend, inputs = 2, outputs = 1))
        checkAll(PropTestConfig(iterations = 20), StrataArb.program(kernels)) { program ->
            w.shouldRunLikeSequential(program) // on failure: the tensor, the element, both values and the program
        }
    }

    test("my own program, written with the DSL, is serializable") {
        val w = strata.closing(worker(level = 3) { subWorkers(4) })
        val tensors = List(2) { TensorSpec(DType.I32, longArrayOf(64), seed = it.toLong()) }
        assertSerializable(w, tensors) { (a, b) ->
            submit(sub, "scale", { input(a.slice(0, 0, 32)); output(b.slice(0, 0, 32)); scalar(3) }, Scale)
            submit(sub, "blend", { input(a.slice(0, 32, 64)); input(b.slice(0, 0, 32)); output(a.slice(0, 0, 32)) }, Blend)
            submit(sub, "scale again", { input(a.slice(0, 0, 32)); output(b.slice(0, 32, 64)); scalar(-1) }, Scale)
        }
    }
})
