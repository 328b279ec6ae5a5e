package dev.strata.dsl

import dev.strata.run.InvalidCallableException
import dev.strata.run.TaskFailedException
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
