package dev.strata.dsl

import dev.strata.testkit.strataKit
import dev.strata.error.InvalidCallableException
import dev.strata.error.TaskFailedException
import dev.strata.task.TaskContext
import dev.strata.tensor.DType
import dev.strata.tensor.Tensor
import dev.strata.worker.Isolation
import io.kotest.assertions.throwables.shouldThrow
import io.kotest.core.spec.style.FunSpec
import io.kotest.matchers.shouldBe
import io.kotest.matchers.string.shouldContain
import io.kotest.property.Arb
import io.kotest.property.arbitrary.boolean
import io.kotest.property.arbitrary.double
import io.kotest.property.arbitrary.float
import io.kotest.property.arbitrary.int
import io.kotest.property.arbitrary.long
import io.kotest.property.checkAll

/** y ← a·x + y. */
object Saxpy : Kernel3<Tensor, Tensor, Float>(Param.input, Param.inout, Param.float) {
    override fun run(ctx: TaskContext, a: Tensor, b: Tensor, c: Float) {
        for (i in 0L until b.elementCount) b.setFloat(i, c * a.getFloat(i) + b.getFloat(i))
    }
}

/** Fills its output with a value. */
object Fill : Kernel2<Tensor, Float>(Param.output, Param.float) {
    override fun run(ctx: TaskContext, a: Tensor, b: Float) = a.fill(b)
}

/** Writes every scalar kind it receives into an I64 tensor, as bits, to check they arrive exactly. */
object Echo : Kernel6<Tensor, Long, Int, Float, Double, Boolean>(Param.output, Param.long, Param.int, Param.float, Param.double, Param.boolean) {
    override fun run(ctx: TaskContext, a: Tensor, b: Long, c: Int, d: Float, e: Double, f: Boolean) {
        a.setLong(0, b)
        a.setLong(1, c.toLong())
        a.setLong(2, d.toRawBits().toLong())
        a.setLong(3, e.toRawBits())
        a.setLong(4, if (f) 1 else 0)
    }
}

/** Doubles its inout tensor on one core of a chip. */
object Twice : Kernel1<Tensor>(Param.inout) {
    override fun run(ctx: TaskContext, a: Tensor) {
        for (i in 0L until a.elementCount) a.setFloat(i, 2 * a.getFloat(i))
    }
}


class TypedKernelSpec : FunSpec({
    strataKit()

    for (iso in listOf(Isolation.THREAD, Isolation.PROCESS)) {
        test("typed calls carry the declared tags: fill then saxpy chain in order ($iso)") {
            worker { subWorkers(2, iso) }.use { w ->
                val x = w.hostTensor(DType.F32, 64)
                val y = w.hostTensor(DType.F32, 64)
                w.run {
                    submit(sub, Fill(x, 1.5f))
                    submit(sub, Fill(y, 1f))
                    submit(sub, Saxpy(x, y, 2f))          // waits for both fills: reads x, reads and writes y
                    submit(sub, Saxpy(x, y, 2f).named("saxpy again"))
                }
                y.getFloat(63) shouldBe 7f
            }
        }
    }

    test("every scalar kind arrives exactly, through a child JVM") {
        worker { subWorkers(1, Isolation.PROCESS) }.use { w ->
            val out = w.hostTensor(DType.I64, 5)
            checkAll(40, Arb.long(), Arb.int(), Arb.float(), Arb.double(), Arb.boolean()) { l, i, f, d, b ->
                w.run { submit(sub, Echo(out, l, i, f, d, b)) }
                out.getLong(0) shouldBe l
                out.getLong(1) shouldBe i.toLong()
                Float.fromBits(out.getLong(2).toInt()).toRawBits() shouldBe f.toRawBits()
                Double.fromBits(out.getLong(3)).toRawBits() shouldBe d.toRawBits()
                (out.getLong(4) == 1L) shouldBe b
            }
        }
    }

    test("a call's task name is the kernel's, and the signature shows in toString") {
        Saxpy.kernelName shouldBe "Saxpy"
        Saxpy.toString() shouldBe "Saxpy(input tensor, inout tensor, float)"
        worker { subWorkers(1) }.use { w ->
            val x = w.hostTensor(DType.F32, 4)
            val e = shouldThrow<TaskFailedException> {
                w.run { submit(sub, kernelOf("explode", Param.input) { _, _ -> error("boom") }(x)) }
            }
            e.message shouldContain "'explode'"
        }
    }

    test("kernelOf makes a kernel from a lambda for threads; a child JVM rejects it at submit") {
        val add = kernelOf("add-one", Param.inout) { _, t -> for (i in 0L until t.elementCount) t.setFloat(i, t.getFloat(i) + 1) }
        worker { subWorkers(1) }.use { w ->
            val x = w.hostTensor(DType.F32, 8)
            w.run { submit(sub, add(x)) }
            x.getFloat(7) shouldBe 1f
        }
        worker { subWorkers(1, Isolation.PROCESS) }.use { w ->
            val x = w.hostTensor(DType.F32, 8)
            val e = shouldThrow<InvalidCallableException> { w.run { submit(sub, add(x)) } }
            e.message shouldContain "anonymous"
        }
    }

    test("a typed kernel given arguments that do not match its parameters fails naming its signature") {
        worker { subWorkers(1) }.use { w ->
            val x = w.hostTensor(DType.F32, 8)
            val e = shouldThrow<TaskFailedException> { w.run { submit(sub, "untyped", { inout(x) }, Saxpy) } }
            e.message shouldContain "kernel Saxpy(input tensor, inout tensor, float) takes 2 tensor(s) and 1 scalar(s) but the task has 1 tensor(s) and 0 scalar(s)"
        }
    }

    test("typed group tasks: one member per sub worker; members must share one kernel") {
        worker { subWorkers(4) }.use { w ->
            val parts = w.hostTensor(DType.F32, 4)
            w.run { submitGroup(sub, 4) { m -> Fill(parts.slice(0, m.toLong(), m + 1L), m + 0.5f) } }
            parts.getFloat(3) shouldBe 3.5f
            val e = shouldThrow<IllegalArgumentException> {
                w.run { submitGroup(sub, 2) { m -> if (m == 0) Fill(parts, 1f) else Twice(parts) } }
            }
            e.message shouldContain "one kernel on every member"
        }
    }

    test("onOneCore runs a typed kernel on one core of a chip") {
        worker(level = 3) {
            chipIsolation = Isolation.THREAD
            chips(0..0) { cores("aiv", 2) }
        }.use { w ->
            val host = w.hostTensor(DType.F32, 16).also { it.fill(3f) }
            val x = w.deviceTensor(0, DType.F32, 16)
            w.copyToDevice(x, host)
            w.run { submit(chip(0), Twice(x).onOneCore("aiv")) }
            w.copyFromDevice(host, x)
            host.getFloat(15) shouldBe 6f
        }
    }

    test("typed calls are recorded into graphs like any submit") {
        val g = taskGraph("typed") {
            val x = parameter("x", DType.F32, 8)
            val y = parameter("y", DType.F32, 8)
            submit(sub, Fill(x, 2f))
            submit(sub, Saxpy(x, y, 3f))
        }
        g.edgeCount shouldBe 1
        worker { subWorkers(2) }.use { w ->
            val x = w.hostTensor(DType.F32, 8)
            val y = w.hostTensor(DType.F32, 8)
            w.run(g, mapOf("x" to x, "y" to y))
            y.getFloat(0) shouldBe 6f
        }
    }
})
