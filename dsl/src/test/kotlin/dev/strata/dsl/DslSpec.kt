package dev.strata.dsl

import dev.strata.error.InvalidConfigException
import dev.strata.error.TaskFailedException
import dev.strata.tensor.DType
import io.kotest.matchers.string.shouldMatch
import io.kotest.assertions.throwables.shouldThrow
import io.kotest.core.spec.style.FunSpec
import io.kotest.matchers.collections.shouldHaveSize
import io.kotest.matchers.shouldBe
import io.kotest.matchers.string.shouldContain
import java.util.concurrent.ConcurrentHashMap

class DslSpec : FunSpec({
    test("worker { } builds a level-3 worker with sub workers") {
        worker(level = 3) { subWorkers(4) }.use { w ->
            w.level shouldBe 3
            w.subWorkerCount shouldBe 4
        }
    }

    test("worker { trace(file) } writes a timeline of its runs when it closes") {
        val file = kotlin.io.path.createTempFile("strata-dsl", ".json")
        try {
            worker { subWorkers(1); trace(file) }.use { w -> w.run { submit(sub, "traced") { } } }
            val trace = dev.strata.trace.TraceFile.read(file)
            trace.problems() shouldBe emptyList()
            trace.traceEvents.filter { it.ph == "X" }.map { it.name } shouldBe listOf("traced")
        } finally {
            java.nio.file.Files.deleteIfExists(file)
        }
    }

    test("submit(sub) { args } { callable } runs with inferred dependencies") {
        worker { subWorkers(4) }.use { w ->
            val a = w.hostTensor(DType.F32, 256)
            val b = w.hostTensor(DType.F32, 256)
            w.run {
                scope {
                    submit(sub, "fill", { output(a) }) { a.fill(2f) }
                    submit(sub, { input(a); output(b) }, "double") { ctx ->
                        val src = ctx.tensor(0)
                        val dst = ctx.tensor(1)
                        for (i in 0L until 256) dst.setFloat(i, src.getFloat(i) * 2)
                    }
                }
            }
            b.getFloat(255) shouldBe 4f
        }
    }

    test("submitGroup(sub, n) sends one member to each of n distinct sub workers") {
        worker { subWorkers(4) }.use { w ->
            val parts = w.hostTensor(DType.I32, 4)
            val threads = ConcurrentHashMap.newKeySet<String>()
            w.run {
                submitGroup(sub, 4, { i -> output(parts.slice(0, i.toLong(), i + 1L)) }, "mark") { ctx ->
                    threads += Thread.currentThread().name
                    ctx.tensor(0).setInt(0, ctx.memberIndex + 10)
                }
            }
            threads shouldHaveSize 4
            (0L until 4).map { parts.getInt(it) } shouldBe listOf(10, 11, 12, 13)
        }
    }

    test("alloc gives scope-owned scratch memory") {
        worker { subWorkers(2) }.use { w ->
            val out = w.hostTensor(DType.I64, 1)
            w.run {
                scope {
                    val tmp = alloc(DType.I64, 1)
                    submit(sub, "produce", { output(tmp) }) { tmp.setLong(0, 41) }
                    submit(sub, "consume", { input(tmp); output(out) }) { out.setLong(0, tmp.getLong(0) + 1) }
                }
            }
            out.getLong(0) shouldBe 42
        }
    }

    test("a task without tensor arguments needs only its callable") {
        worker { subWorkers(1) }.use { w ->
            var ran = false
            w.run { submit(sub) { ran = true } }
            ran shouldBe true
        }
    }

    test("a level-4 worker drives a nested level-3 worker and errors carry both prefixes") {
        val l3 = worker(level = 3) { subWorkers(1) }
        worker(level = 4) { nextLevel(l3) }.use { l4 ->
            val e = shouldThrow<TaskFailedException> {
                l4.run {
                    submit(node(0), "inner-run") { ctx ->
                        ctx.worker.run { submit(sub, "deep") { throw IllegalArgumentException("bad input") } }
                    }
                }
            }
            e.workerPath shouldMatch "L4 node#0 / L3 sub#\\d" // whichever idle sub worker took it
            e.errorClass shouldBe IllegalArgumentException::class.java.name
            e.errorMessage shouldBe "bad input"
            e.taskName shouldBe "deep"
        }
        l3.isClosed shouldBe true
    }

    test("configuration problems are reported together") {
        val e = shouldThrow<InvalidConfigException> {
            worker(level = 9) {
                subWorkers(-1)
                taskWindow = 0
            }
        }
        e.problems shouldHaveSize 3
    }
})
