package dev.strata.record

import dev.strata.error.GraphBindingException
import dev.strata.error.InvalidSubmitException
import dev.strata.error.RunTimeoutException
import dev.strata.graph.SumInto
import dev.strata.process.assertNoLeftovers
import dev.strata.task.TaskArgs
import dev.strata.task.TaskCallable
import dev.strata.task.Target
import dev.strata.tensor.DType
import dev.strata.worker.Isolation
import dev.strata.worker.Worker
import dev.strata.worker.WorkerConfig
import io.kotest.assertions.throwables.shouldThrow
import io.kotest.core.spec.style.FunSpec
import io.kotest.matchers.shouldBe
import io.kotest.matchers.string.shouldContain
import java.util.concurrent.CountDownLatch
import java.util.concurrent.TimeUnit
import java.util.concurrent.atomic.AtomicInteger
import kotlin.time.Duration.Companion.milliseconds
import kotlin.time.Duration.Companion.seconds

/** Issue 17, replay without limits: scalar parameters bound at replay, `alloc` and gates inside recorded graphs. */
class RecordedGraphSpec : FunSpec({
    afterEach { assertNoLeftovers() }

    test("scalar parameters are bound at each replay, in single and group tasks alike") {
        val graph = TaskGraph.record("scaled") {
            val x = parameter("x", DType.I64, 4)
            val y = parameter("y", DType.I64, 2)
            val k = scalarParameter("k")
            submit(Target.Sub, SumInto, TaskArgs.build { input(x); output(y.slice(0, 0, 1)); scalar(k) }, "single")
            submitGroup(listOf(Target.Sub), SumInto, listOf(TaskArgs.build { input(x); output(y.slice(0, 1, 2)); scalar(k); scalar(7) }), "group")
        }
        graph.scalarParameterNames shouldBe listOf("k")
        Worker(WorkerConfig(subWorkers = 2)).use { w ->
            val x = w.hostTensor(DType.I64, 4).also { t -> for (i in 0L until 4) t.setLong(i, i) } // sum 6
            val y = w.hostTensor(DType.I64, 2)
            for (k in listOf(5L, -100L, Long.MAX_VALUE - 6)) {
                w.run(graph, mapOf("x" to x, "y" to y), mapOf("k" to k))
                y.getLong(0) shouldBe k + 6
                y.getLong(1) shouldBe k + 6
            }
        }
    }

    test("scalar bindings are checked with the tensors, all at once; a run refuses a scalar parameter; another graph's is refused") {
        lateinit var foreign: dev.strata.task.ScalarParameter
        val graph = TaskGraph.record("checked") {
            val x = parameter("x", DType.I64, 4)
            foreign = scalarParameter("n")
            submit(Target.Sub, SumInto, TaskArgs.build { input(x); output(x); scalar(foreign) })
        }
        Worker(WorkerConfig(subWorkers = 1)).use { w ->
            val x = w.hostTensor(DType.I64, 4)
            val e = shouldThrow<GraphBindingException> { w.run(graph, mapOf("x" to x, "n" to x), mapOf("x" to 1L, "m" to 2L)) }
            e.message shouldContain "'n' is a scalar parameter of the graph: bind it among the scalars, not the tensors"
            e.message shouldContain "'x' is a tensor parameter of the graph: bind it among the tensors, not the scalars"
            e.message shouldContain "'m' is not a scalar parameter"
            e.message shouldContain "scalar parameter 'n' is not bound"
            val refused = shouldThrow<InvalidSubmitException> {
                w.run { submit(Target.Sub, SumInto, TaskArgs.build { input(x); output(x); scalar(foreign) }) }
            }
            refused.message shouldContain "scalar 0 is the graph's scalar parameter 'n', which only a replay of that graph binds"
        }
        shouldThrow<IllegalArgumentException> {
            TaskGraph.record("other") { submit(Target.Sub, SumInto, TaskArgs.build { scalar(foreign) }, "borrower") }
        }.message shouldContain "task 'borrower' uses ScalarParameter(n), which another graph declared"
    }

    for (iso in listOf(Isolation.THREAD, Isolation.PROCESS)) {
        test("alloc in a recorded graph is fresh heap-ring memory each replay, given back when its tasks are done ($iso)") {
            // Each replay needs 1 KiB of scratch from a 4 KiB ring: 12 replays only fit if every one gives its scratch back.
            val graph = TaskGraph.record("scratch") {
                val x = parameter("x", DType.I64, 4)
                val y = parameter("y", DType.I64, 4)
                val k = scalarParameter("k")
                scope {
                    val s = alloc(DType.I64, 128)
                    submit(Target.Sub, SumInto, TaskArgs.build { input(x); output(s); scalar(k) }, "into scratch")
                    submit(Target.Sub, SumInto, TaskArgs.build { input(s.slice(0, 0, 2)); output(y); scalar(0) }, "from scratch")
                }
            }
            graph.scratchCount shouldBe 1
            Worker(WorkerConfig(subWorkers = 2, subIsolation = iso, heapRingBytes = 4096, backPressureTimeout = 5.seconds)).use { w ->
                val x = w.hostTensor(DType.I64, 4).also { t -> for (i in 0L until 4) t.setLong(i, i) }
                val y = w.hostTensor(DType.I64, 4)
                for (k in 0L until 12) {
                    w.run(graph, mapOf("x" to x, "y" to y), mapOf("k" to k))
                    y.getLong(3) shouldBe 2 * (k + 6)
                }
            }
        }
    }

    test("a graph with scratch longer than the task window streams through it") {
        val graph = TaskGraph.record("long scratch") {
            val y = parameter("y", DType.I64, 1)
            var prev = alloc(DType.I64, 1)
            submit(Target.Sub, SumInto, TaskArgs.build { input(y.slice(0, 0, 0)); output(prev); scalar(1) })
            for (i in 1 until 300) {
                val next = alloc(DType.I64, 1)
                submit(Target.Sub, SumInto, TaskArgs.build { input(prev); output(next); scalar(1) })
                prev = next
            }
            submit(Target.Sub, SumInto, TaskArgs.build { input(prev); output(y); scalar(0) })
        }
        Worker(WorkerConfig(subWorkers = 2, taskWindow = 512, backPressureTimeout = 5.seconds)).use { w ->
            val y = w.hostTensor(DType.I64, 1)
            repeat(3) {
                w.run(graph, mapOf("y" to y))
                y.getLong(0) shouldBe 300
            }
        }
    }

    test("a recorded gate is made afresh by each replay and opened by the replay's own task") {
        val consumed = AtomicInteger()
        val second = CountDownLatch(1)
        val graph = TaskGraph.record("gated") {
            val mailbox = parameter("mailbox", DType.I64, 1)
            val y = parameter("y", DType.I64, 1)
            val replay = scalarParameter("replay")
            val ready = gate("peer-ready")
            after(ready) {
                submit(Target.Sub, TaskCallable { ctx -> ctx.tensor(1).setLong(0, ctx.tensor(0).getLong(0) + 1); consumed.incrementAndGet() }, TaskArgs.build { input(mailbox); output(y) }, "consume")
            }
            submit(Target.Sub, TaskCallable { ctx ->
                if (ctx.scalar(0) == 1L) second.await(10, TimeUnit.SECONDS) // the second replay's sender waits to be released
                ctx.tensor(0).setLong(0, 41 + ctx.scalar(0))
                ready.open()
                ready.open() // idempotent: must not open the other replay's gate
            }, TaskArgs.build { noDep(mailbox); scalar(replay) }, "receive")
        }
        graph.gateNames shouldBe listOf("peer-ready")
        Worker(WorkerConfig(subWorkers = 2)).use { w ->
            val m = List(2) { w.hostTensor(DType.I64, 1) }
            val y = List(2) { w.hostTensor(DType.I64, 1) }
            val first = w.submit(graph, mapOf("mailbox" to m[0], "y" to y[0]), mapOf("replay" to 0L))
            val later = w.submit(graph, mapOf("mailbox" to m[1], "y" to y[1]), mapOf("replay" to 1L))
            first.result(10.seconds)
            y[0].getLong(0) shouldBe 42
            Thread.sleep(300)
            consumed.get() shouldBe 1 // the second replay's consumer still waits for its own gate
            second.countDown()
            later.result(10.seconds)
            y[1].getLong(0) shouldBe 43
            consumed.get() shouldBe 2
        }
    }

    test("a recorded gate opened from outside the DAG opens the oldest replay waiting for it; with no replay in flight it says so") {
        val graph = TaskGraph.record("outside") {
            val y = parameter("y", DType.I64, 1)
            val ready = gate("go")
            after(ready) { submit(Target.Sub, SumInto, TaskArgs.build { input(y.slice(0, 0, 0)); output(y); scalar(9) }) }
        }
        val go = graph.gates.single()
        Worker(WorkerConfig(subWorkers = 1)).use { w ->
            val y = w.hostTensor(DType.I64, 1)
            val handle = w.submit(graph, mapOf("y" to y))
            shouldThrow<RunTimeoutException> { handle.result(200.milliseconds) }
            go.isOpen shouldBe false
            go.open()
            handle.result(10.seconds)
            y.getLong(0) shouldBe 9
            shouldThrow<IllegalStateException> { go.open() }.message shouldContain "no replay of the graph is in flight"
            // A replay whose gate nobody opens is bounded by the caller's timeout and cancelled: its waiters are skipped.
            val stuck = w.submit(graph, mapOf("y" to y))
            shouldThrow<RunTimeoutException> { stuck.result(200.milliseconds) }
            stuck.cancel()
            shouldThrow<dev.strata.error.RunCancelledException> { stuck.result(10.seconds) }
            w.run(TaskGraph.record("after") { submit(Target.Sub, TaskCallable { }, TaskArgs.EMPTY) }) // the worker goes on
        }
    }

    test("the JSON export names scratch, scalar parameters and gates") {
        val graph = TaskGraph.record("exported") {
            val k = scalarParameter("k")
            val g = gate("go")
            val s = alloc(DType.I64, 2)
            after(g) { submit(Target.Sub, SumInto, TaskArgs.build { input(s); output(s); scalar(1); scalar(k) }, "gated") }
        }
        val json = graph.toJson()
        json shouldContain "\"scratch\": true"
        json shouldContain "\"scalarParameters\": {\n                        \"1\": \"k\""
        json shouldContain "\"gates\": [\n                \"go\""
        graph.toString() shouldContain "scalar parameters [k]"
    }
})
