package dev.strata.dsl

import dev.strata.error.InvalidCallableException
import dev.strata.error.TaskFailedException
import dev.strata.task.TaskCallable
import dev.strata.task.TaskContext
import dev.strata.task.callable
import dev.strata.tensor.DType
import dev.strata.worker.Isolation
import io.kotest.assertions.throwables.shouldThrow
import io.kotest.core.spec.style.FunSpec
import io.kotest.matchers.shouldBe
import io.kotest.matchers.string.shouldContain

/** Squares every I64 element of tensor 0 in place (a top-level function: child JVMs find it by name). */
fun squareKernel(ctx: TaskContext) {
    val t = ctx.tensor(0)
    for (i in 0 until t.size(0)) t.setLong(i, t.getLong(i) * t.getLong(i))
}

/** On a level-3 child: squares tensor 0 through one of its own sub workers. */
object SquareOnSubs : TaskCallable {
    override fun call(context: TaskContext) {
        val x = context.tensor(0)
        context.worker.run { submit(sub, "square", { inout(x) }, callable(::squareKernel)) }
    }
}

class ProcessDslSpec : FunSpec({
    test("subWorkers(n, Isolation.PROCESS) runs top-level functions in child JVMs") {
        worker(level = 3) { subWorkers(2, Isolation.PROCESS) }.use { w ->
            w.childPids.size shouldBe 2
            val x = w.hostTensor(DType.I64, 4)
            for (i in 0 until 4L) x.setLong(i, i + 1)
            w.run {
                submit(sub, "square", { inout(x) }, callable(::squareKernel))
                submit(sub, "square again", { inout(x) }, callable(::squareKernel))
            }
            (0 until 4L).map { x.getLong(it) } shouldBe listOf(1L, 16L, 81L, 256L)
            val e = shouldThrow<InvalidCallableException> { w.run { submit(sub, "inline") { } } }
            e.message!! shouldContain "lambda"
        }
    }

    test("nextLevelWorker with nextIsolation = PROCESS: a level-4 worker drives level-3 child JVMs") {
        worker(level = 4) {
            nextIsolation = Isolation.PROCESS
            nextLevelWorker { subWorkers(1) }
            nextLevelWorker { subWorkers(1) }
        }.use { w ->
            val x = w.hostTensor(DType.I64, 2)
            x.setLong(0, 3)
            x.setLong(1, 5)
            w.run {
                submit(node(0), "outer-a", { inout(x.slice(0, 0, 1)) }, SquareOnSubs)
                submit(node(1), "outer-b", { inout(x.slice(0, 1, 2)) }, SquareOnSubs)
            }
            x.getLong(0) shouldBe 9
            x.getLong(1) shouldBe 25
            val e = shouldThrow<TaskFailedException> {
                w.run { submit(node(1), "outer", { scalar(1) }, dev.strata.task.FunctionCallable.of("dev.strata.dsl.ProcessDslSpecKt", "squareKernel")) }
            }
            e.workerPath shouldBe "L4 node#1"
            e.errorClass shouldBe "java.lang.ArrayIndexOutOfBoundsException"
        }
    }
})

/** Chip kernel: tensor 0 (I64) = 7 at every element. */
object FillSevens : TaskCallable {
    override fun call(context: TaskContext) {
        val t = context.tensor(0)
        for (i in 0 until t.size(0)) t.setLong(i, 7)
    }
}

class ChipDslSpec : FunSpec({
    test("chips(…), domain(…), chip(i) and kernel(…): a device tensor filled on a chip and read back") {
        worker(level = 3) {
            chipIsolation = Isolation.THREAD
            chips(0..1) { cores("aiv", 2); cores("aic", 1) }
            domain("pair", 0..1, windowBytes = 4096) { buffer("x", DType.I64, 16) }
        }.use { w ->
            w.chipCount shouldBe 2
            w.chipContext(1).cores.map { it.type } shouldBe listOf("aiv", "aic")
            w.chipContext(1).domain("pair").buffer("x").elementCount shouldBe 16
            val d = w.deviceTensor(1, DType.I64, 4)
            w.run { submit(chip(1), "fill", { output(d) }, dev.strata.chip.kernel(FillSevens, coreType = "aic")) }
            val back = w.hostTensor(DType.I64, 4)
            w.copyFromDevice(back, d)
            back.getLong(3) shouldBe 7
        }
    }
})
