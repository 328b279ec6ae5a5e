package dev.strata.graph

import dev.strata.process.assertNoLeftovers
import dev.strata.error.GraphBindingException
import dev.strata.task.TaskArgs
import dev.strata.task.TaskCallable
import dev.strata.task.TaskContext
import dev.strata.task.Target
import dev.strata.tensor.Buffer
import dev.strata.tensor.DType
import dev.strata.tensor.Tensor
import dev.strata.worker.Isolation
import dev.strata.worker.Worker
import dev.strata.worker.WorkerConfig
import io.kotest.assertions.throwables.shouldThrow
import io.kotest.core.spec.style.FunSpec
import io.kotest.matchers.ints.shouldBeLessThanOrEqual
import io.kotest.matchers.shouldBe
import io.kotest.matchers.string.shouldContain
import io.kotest.matchers.string.shouldNotContain
import io.kotest.property.Arb
import io.kotest.property.arbitrary.int
import io.kotest.property.arbitrary.list
import io.kotest.property.checkAll
import java.util.concurrent.atomic.AtomicInteger
import kotlin.time.Duration.Companion.milliseconds
import kotlin.time.Duration.Companion.seconds
import dev.strata.record.TaskGraph

/** Writes `scalar(0) + sum(tensor 0)` into every element of tensor 1 (I64). */
internal object SumInto : TaskCallable {
    override fun call(context: TaskContext) {
        val r = context.tensor(0)
        val w = context.tensor(1)
        var s = context.scalar(0)
        for (i in 0 until r.elementCount) s += r.getLong(i)
        for (i in 0 until w.elementCount) w.setLong(i, s)
    }
}

/** One task of a random program: reads `[r0, r1)`, writes `[w0, w1)` of one I64 parameter. */
private data class Op(val r0: Long, val r1: Long, val w0: Long, val w1: Long)

private const val N = 16L

private fun ops(seeds: List<Int>): List<Op> = seeds.chunked(4).filter { it.size == 4 }.map { (a, b, c, d) ->
    val r0 = (a % N + N) % N
    val w0 = (c % N + N) % N
    Op(r0, minOf(N, r0 + 1 + (b % 4 + 4) % 4), w0, minOf(N, w0 + 1 + (d % 4 + 4) % 4))
}

/** The program of [ops] over [x] (a task's read and write ranges may overlap). */
private suspend fun dev.strata.task.Orchestrator.program(x: Tensor, ops: List<Op>) {
    for ((k, op) in ops.withIndex()) {
        val r = x.slice(0, op.r0, op.r1)
        val w = x.slice(0, op.w0, op.w1)
        submit(Target.Sub, SumInto, TaskArgs.build { input(r); output(w); scalar(k.toLong()) }, "op$k")
    }
}

class TaskGraphSpec : FunSpec({
    afterEach { assertNoLeftovers() }

    test("property: a replay on fresh bindings leaves memory exactly as running the program one task at a time") {
        Worker(WorkerConfig(subWorkers = 4)).use { w ->
            // Up to 200 tasks: graphs span several replay chunks (64 tasks), so dependencies cross chunk borders.
            checkAll(60, Arb.list(Arb.int(-1000, 1000), 8..800)) { seeds ->
                val ops = ops(seeds)
                val graph = TaskGraph.record("random") { program(parameter("x", DType.I64, N), ops) }
                graph.size shouldBe ops.size
                repeat(2) { round ->
                    val x = w.hostTensor(DType.I64, N).also { t -> for (i in 0 until N) t.setLong(i, i * 7 + round) }
                    val oracle = Buffer.host(N * 8).tensor(DType.I64, N).also { t -> for (i in 0 until N) t.setLong(i, i * 7 + round) }
                    w.run(graph, mapOf("x" to x))
                    for ((k, op) in ops.withIndex()) { // sequential reference
                        SumInto.call(dev.strata.task.TaskContext(
                            TaskArgs.build { input(oracle.slice(0, op.r0, op.r1)); output(oracle.slice(0, op.w0, op.w1)); scalar(k.toLong()) },
                            0, 1, "oracle", null,
                        ))
                    }
                    for (i in 0 until N) x.getLong(i) shouldBe oracle.getLong(i)
                }
            }
        }
    }

    test("a replay on a worker with process children runs the same graph in child JVMs") {
        val ops = ops(List(40) { it * 37 - 500 })
        val graph = TaskGraph.record("on-processes") { program(parameter("x", DType.I64, N), ops) }
        Worker(WorkerConfig(subWorkers = 2, subIsolation = Isolation.PROCESS)).use { w ->
            val x = w.hostTensor(DType.I64, N)
            w.run(graph, mapOf("x" to x))
            val y = Buffer.host(N * 8).tensor(DType.I64, N)
            Worker(WorkerConfig(subWorkers = 2)).use { t -> t.run { program(y, ops) } }
            for (i in 0 until N) x.getLong(i) shouldBe y.getLong(i)
            // Private host memory cannot be bound for child processes.
            shouldThrow<GraphBindingException> { w.run(graph, mapOf("x" to Buffer.host(N * 8).tensor(DType.I64, N))) }
                .message shouldContain "a child process, cannot see"
        }
    }

    test("a long dependent graph replayed many times on fresh bindings: every value right, every slot given back") {
        // Task i sets cell i to cell(i-1) + cell(i-2) + 1: the deps2 shape, reading what it was bound to.
        val n = 3_000L
        val graph = TaskGraph.record("fib") {
            val cells = parameter("cells", DType.I64, n)
            for (i in 0 until n) {
                submit(Target.Sub, SumInto, TaskArgs.build {
                    input(cells.slice(0, maxOf(0L, i - 2), i)) // empty for i = 0
                    output(cells.slice(0, i, i + 1))
                    scalar(1)
                }, "fib$i")
            }
        }
        val expected = LongArray(n.toInt())
        for (i in expected.indices) expected[i] = 1 + (if (i >= 1) expected[i - 1] else 0) + (if (i >= 2) expected[i - 2] else 0)
        Worker(WorkerConfig(subWorkers = 4)).use { w ->
            val bindings = List(3) { w.hostTensor(DType.I64, n) }
            val handles = List(30) { r -> w.submit(graph, mapOf("cells" to bindings[r % 3])) } // pipelined runs
            handles.forEach { it.result() }
            for (b in bindings) for (i in 0 until n) b.getLong(i) shouldBe expected[i.toInt()]
            dev.strata.testing.waitUntil("every task slot is free again") { w.window.free == w.config.taskWindow }
        }
    }

    test("a graph many times longer than the task window replays: tasks stream through the window") {
        // 2,000 nodes on a window of 64: chains of 10 (each link reads its predecessor's output) side by side.
        val chains = 200
        val links = 10
        val cells = Buffer.host(8L * chains * links, "cells").tensor(DType.I64, (chains * links).toLong())
        val graph = TaskGraph.record("long") {
            for (c in 0 until chains) for (l in 0 until links) {
                val at = (c * links + l).toLong()
                val args = TaskArgs.build {
                    if (l > 0) input(cells.slice(0, at - 1, at))
                    output(cells.slice(0, at, at + 1))
                    scalar(if (l > 0) 1 else 0)
                }
                submit(Target.Sub, NextLink, args)
            }
        }
        Worker(WorkerConfig(subWorkers = 2, taskWindow = 64, backPressureTimeout = 10.seconds)).use { w ->
            repeat(2) {
                for (i in 0 until chains * links) cells.setLong(i.toLong(), -1)
                w.run(graph)
                for (c in 0 until chains) for (l in 0 until links) cells.getLong((c * links + l).toLong()) shouldBe l.toLong()
            }
            dev.strata.testing.waitUntil("every task slot is free again") { w.window.free == 64 }
        }
    }

    test("back-pressure that gives up half-way through a replay fails the run, and the worker stays usable") {
        val ran = AtomicInteger()
        val gate = java.util.concurrent.CountDownLatch(1)
        val blocked = TaskCallable { gate.await(); ran.incrementAndGet() }
        val count = TaskCallable { ran.incrementAndGet() }
        // 200 tasks that cannot finish (they wait for the latch) cannot all fit a window of 100 slots.
        val big = TaskGraph.record("big") { repeat(200) { submit(Target.Sub, blocked, TaskArgs.EMPTY) } }
        val small = TaskGraph.record("small") { repeat(10) { submit(Target.Sub, count, TaskArgs.EMPTY) } }
        Worker(WorkerConfig(subWorkers = 2, taskWindow = 100, backPressureTimeout = 300.milliseconds)).use { w ->
            // The two running tasks end 2 s later (well after the 300 ms back-pressure bound): the run can then end failed.
            Thread { Thread.sleep(2_000); gate.countDown() }.apply { isDaemon = true }.start()
            shouldThrow<dev.strata.error.BackPressureTimeoutException> { w.run(big) }.message shouldContain "taskWindow"
            ran.get() shouldBeLessThanOrEqual 100
            dev.strata.testing.waitUntil("the failed run's slots are free again") { w.window.free == 100 }
            ran.set(0)
            w.run(small)
            ran.get() shouldBe 10
        }
    }

    test("a replay sending a callable without a stable name to a child process fails before anything runs") {
        val ran = AtomicInteger()
        val graph = TaskGraph.record("lambda") {
            val x = parameter("x", DType.I64, 2)
            val y = parameter("y", DType.I64, 2)
            submit(Target.Sub, SumInto, TaskArgs.build { input(x); output(y); scalar(0) })
            submit(Target.Sub, TaskCallable { ran.incrementAndGet() }, TaskArgs.EMPTY, "lambda")
        }
        Worker(WorkerConfig(subWorkers = 1, subIsolation = Isolation.PROCESS)).use { w ->
            val y = w.hostTensor(DType.I64, 2).also { it.setLong(0, -1) }
            shouldThrow<dev.strata.error.InvalidCallableException> {
                w.run(graph, mapOf("x" to w.hostTensor(DType.I64, 2), "y" to y))
            }
            y.getLong(0) shouldBe -1L // the first task did not run either
        }
        Worker(WorkerConfig(subWorkers = 1)).use { w -> // in threads a lambda is fine
            w.run(graph, mapOf("x" to w.hostTensor(DType.I64, 2), "y" to w.hostTensor(DType.I64, 2)))
            ran.get() shouldBe 1
        }
    }

    test("wrong, missing, unknown and overlapping bindings are all reported before anything runs") {
        val ran = AtomicInteger()
        val count = TaskCallable { ran.incrementAndGet() }
        val graph = TaskGraph.record("checked") {
            val a = parameter("a", DType.F32, 4, 4)
            val b = parameter("b", DType.I64, 8)
            val c = parameter("c", DType.I64, 8)
            submit(Target.Sub, count, TaskArgs.build { output(a) })
            submit(Target.Sub, count, TaskArgs.build { input(b); output(c) })
        }
        graph.parameterNames shouldBe listOf("a", "b", "c")
        graph.edgeCount shouldBe 0
        Worker(WorkerConfig(subWorkers = 2)).use { w ->
            val e = shouldThrow<GraphBindingException> {
                w.run(graph, mapOf("a" to w.hostTensor(DType.F32, 16), "b" to w.hostTensor(DType.I32, 8), "z" to w.hostTensor(DType.I64, 1)))
            }
            e.problems.size shouldBe 4
            e.message shouldContain "parameter 'a' is F32[4, 4], bound to F32[16]"
            e.message shouldContain "parameter 'b' is I64[8], bound to I32[8]"
            e.message shouldContain "parameter 'c' (I64[8]) is not bound"
            e.message shouldContain "'z' is not a parameter"
            val shared = w.hostTensor(DType.I64, 12)
            shouldThrow<GraphBindingException> {
                w.run(graph, mapOf("a" to w.hostTensor(DType.F32, 4, 4), "b" to shared.slice(0, 0, 8), "c" to shared.slice(0, 4, 12)))
            }.message shouldContain "parameters 'b' and 'c' are bound to overlapping bytes"
            ran.get() shouldBe 0
            w.run(graph, mapOf("a" to w.hostTensor(DType.F32, 4, 4), "b" to shared.slice(0, 0, 8), "c" to w.hostTensor(DType.I64, 8)))
            ran.get() shouldBe 2
        }
    }

    test("a target the worker does not have is a binding-time error") {
        val graph = TaskGraph.record("far") { submit(Target.Next(3), TaskCallable { }, TaskArgs.EMPTY) }
        Worker(WorkerConfig(subWorkers = 1)).use { w ->
            shouldThrow<GraphBindingException> { w.run(graph) }.message shouldContain "next#3 does not exist"
        }
    }

    test("toDot and toJson show tasks, targets, parameters and edges") {
        val graph = TaskGraph.record("export") {
            val x = parameter("x", DType.I64, 4)
            submit(Target.Sub, SumInto, TaskArgs.build { input(x.slice(0, 0, 2)); output(x.slice(0, 2, 4)); scalar(1) }, "first")
            submitGroup(listOf(Target.Sub, Target.Sub), SumInto, List(2) { TaskArgs.build { input(x.slice(0, 2, 4)); output(x.slice(0, it.toLong(), it + 1L)); scalar(2) } }, "pair")
        }
        graph.edgeCount shouldBe 1
        val dot = graph.toDot()
        dot shouldContain "digraph \"export\""
        dot shouldContain "n0 [label=\"#0 first\\nsub\"]"
        dot shouldContain "n0 -> n1;"
        val json = graph.toJson()
        json shouldContain "\"parameters\""
        json shouldContain "\"name\": \"x\""
        json shouldContain "\"after\": [\n                0\n            ]"
        json shouldContain "\"parameter\": \"x\""
    }

    test("toDot draws the transitive reduction (an edge implied by a longer path is left out); the JSON keeps every edge (issue 13 §20)") {
        val graph = TaskGraph.record("diamond") {
            val x = parameter("x", DType.I64, 4)
            val a = x.slice(0, 0, 2)
            val y = x.slice(0, 2, 3)
            val z = x.slice(0, 3, 4)
            submit(Target.Sub, SumInto, TaskArgs.build { output(a); scalar(1) }, "write a")
            submit(Target.Sub, SumInto, TaskArgs.build { input(a); output(y); scalar(1) }, "a to y")
            // Reads a (an edge from #0) and y (an edge from #1, which itself follows #0): #0 -> #2 is implied.
            submit(Target.Sub, SumInto, TaskArgs.build { input(a); input(y); output(z); scalar(1) }, "a and y to z")
        }
        graph.edgeCount shouldBe 3
        val all = graph.edgeCount
        val reduced = graph.toDot()
        reduced shouldContain "of $all dependency edges drawn (transitive reduction"
        Regex(" -> ").findAll(reduced).count() shouldBe 2
        reduced shouldContain "n0 -> n1;"
        reduced shouldContain "n1 -> n2;"
        reduced shouldNotContain "n0 -> n2;"
        Regex(" -> ").findAll(graph.toDot(reduced = false)).count() shouldBe all
        graph.reducedProducers()!!.map { it.toList() } shouldBe listOf(emptyList(), listOf(0), listOf(1))
        graph.toJson() shouldContain "\"after\": [\n                0,\n                1\n            ]" // every edge kept
    }
})

/** Writes `input + 1` into its output (0 without an input): scalar 0 says whether tensor 0 is an input. */
private object NextLink : TaskCallable {
    override fun call(context: dev.strata.task.TaskContext) {
        val hasInput = context.scalar(0) == 1L
        val out = context.tensor(if (hasInput) 1 else 0)
        out.setLong(0, if (hasInput) context.tensor(0).getLong(0) + 1 else 0)
    }
}
