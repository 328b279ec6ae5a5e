package dev.strata.remote

import dev.strata.error.WorkerDiedException
import dev.strata.run.RunHandle
import dev.strata.task.Orchestrator
import dev.strata.task.TaskArgs
import dev.strata.task.TaskCallable
import dev.strata.task.TaskContext
import dev.strata.task.Target
import dev.strata.tensor.DType
import dev.strata.tensor.Tensor
import dev.strata.worker.Isolation
import dev.strata.worker.NextLevelChild
import dev.strata.worker.Worker
import dev.strata.worker.WorkerConfig
import io.kotest.assertions.throwables.shouldThrow
import io.kotest.core.spec.style.FunSpec
import io.kotest.matchers.shouldBe
import io.kotest.matchers.string.shouldContain
import java.lang.foreign.ValueLayout
import kotlin.time.Duration.Companion.seconds

/** x[k] = k + scalar 0, for every element of an I32 view (an output: it reads nothing). */
object FillIota : TaskCallable {
    override fun call(context: TaskContext) {
        val x = context.tensor(0)
        for (k in 0 until x.elementCount) x.setI32(k, (k + context.scalar(0)).toInt())
    }
}

/** out[k] = in[k] + 1 for the first out.elementCount elements of in. */
object HeadPlusOne : TaskCallable {
    override fun call(context: TaskContext) {
        val a = context.tensor(0)
        val b = context.tensor(1)
        for (k in 0 until b.elementCount) b.setI32(k, a.i32(k) + 1)
    }
}

/** Does nothing: a task that keeps its run open behind a gate. */
object Nothing : TaskCallable {
    override fun call(context: TaskContext) = Unit
}

private fun Tensor.i32(k: Long): Int = buffer.segment!!.get(ValueLayout.JAVA_INT_UNALIGNED, byteOffsetOf(k))
private fun Tensor.setI32(k: Long, v: Int) = buffer.segment!!.set(ValueLayout.JAVA_INT_UNALIGNED, byteOffsetOf(k), v)

/** A level-4 worker with one sub worker over [n] loopback nodes that keep their results. */
private class HoldingPod(n: Int, subIsolation: Isolation = Isolation.THREAD) : AutoCloseable {
    val nodes = List(n) { Worker(WorkerConfig(level = 3, subWorkers = 1)) }
    val links = nodes.map { LoopbackLink(level = 3, worker = it, chunk = 64 * 1024) }
    val l4 = Worker(
        WorkerConfig(level = 4, subWorkers = 1, subIsolation = subIsolation, nextLevel = links.map { NextLevelChild.Remote(it) }, closeTimeout = 2.seconds),
    )
    val residency: Residency get() = l4.children.residency!!

    override fun close() {
        l4.close()
        nodes.forEach { it.close() }
    }
}

/**
 * Runs task 'produce' (x = iota) on node 0 and, behind a gate, [consume]; node 0 is lost ([reason]) once it
 * holds x, before the gate opens.
 */
private fun HoldingPod.loseNode0WhileItHolds(x: Tensor, reason: String, consume: suspend Orchestrator.() -> Unit): RunHandle = l4.submit {
    submit(Target.Next(0), FillIota, TaskArgs.build { output(x); scalar(0) }, "produce")
    val g = gate("later")
    after(g) { consume() }
    while (residency.isEmpty) Thread.sleep(1) // produce finished: node 0 holds x
    links[0].lose(reason)
    g.open()
}

class ResidencySpec : FunSpec({
    val n = 256 * 1024L // 1 MiB of I32
    val bytes = n * 4

    test("a result stays on its node while tasks there use it, and reaches the caller once, at the end of the run") {
        HoldingPod(1).use { pod ->
            val x = pod.l4.hostTensor(DType.I32, n)
            val y = pod.l4.hostTensor(DType.I32, n)
            pod.l4.run {
                submit(Target.Next(0), FillIota, TaskArgs.build { output(x); scalar(5) }, "fill")
                submit(Target.Next(0), Scale, TaskArgs.build { inout(x); scalar(3) }, "scale")
                submit(Target.Next(0), AddOne, TaskArgs.build { input(x); output(y) }, "add")
            }
            for (k in listOf(0L, 1L, n / 2, n - 1)) {
                x.i32(k) shouldBe ((k + 5) * 3).toInt()
                y.i32(k) shouldBe ((k + 5) * 3 + 1).toInt()
            }
            val link = pod.links[0]
            link.heldReads.get() shouldBe 2 // scale and add read x where fill and scale left it
            link.bytesIn.get() shouldBe 2 * bytes // x and y went in once each (fill's output, add's output)
            link.bytesBack.get() shouldBe 0L
            link.bytesFetched.get() shouldBe 2 * bytes // x and y, once each, at the end of the run
            link.held.size shouldBe 0 // all released
            pod.residency.isEmpty shouldBe true
        }
    }

    test("a task in the caller's JVM, or on another node, reads what a node holds after it was fetched") {
        HoldingPod(2).use { pod ->
            val x = pod.l4.hostTensor(DType.I32, n)
            val y = pod.l4.hostTensor(DType.I32, n)
            val z = pod.l4.hostTensor(DType.I32, n)
            pod.l4.run {
                submit(Target.Next(0), FillIota, TaskArgs.build { output(x); scalar(1) }, "fill")
                submit(Target.Sub, AddOne, TaskArgs.build { input(x); output(y) }, "local add")
                submit(Target.Next(1), AddOne, TaskArgs.build { input(x); output(z) }, "remote add")
            }
            for (k in listOf(0L, n - 1)) {
                y.i32(k) shouldBe (k + 2).toInt()
                z.i32(k) shouldBe (k + 2).toInt()
            }
            pod.links[0].bytesFetched.get() shouldBe bytes // into the caller, for the local reader
            pod.links[1].directReads.get() shouldBe 1 // node 1 read x straight from node 0
            pod.links[1].bytesIn.get() shouldBe bytes // only z came from the caller
            pod.links.sumOf { it.held.size } shouldBe 0
        }
    }

    test("a task on another node reads a held result straight from the node that holds it; the caller gets it once, at the end") {
        HoldingPod(2).use { pod ->
            val x = pod.l4.hostTensor(DType.I32, n)
            val head = pod.l4.hostTensor(DType.I32, 4)
            pod.l4.run {
                submit(Target.Next(0), FillIota, TaskArgs.build { output(x); scalar(0) }, "fill on 0")
                submit(Target.Next(1), Scale, TaskArgs.build { inout(x); scalar(2) }, "scale on 1") // reads 0's, keeps its own
                submit(Target.Next(0), Scale, TaskArgs.build { inout(x); scalar(3) }, "scale on 0") // reads 1's
                submit(Target.Next(1), HeadPlusOne, TaskArgs.build { input(x); output(head) }, "read on 1") // reads 0's
            }
            for (k in listOf(0L, 3L, n / 2, n - 1)) x.i32(k) shouldBe (k * 6).toInt()
            head.i32(3) shouldBe 19
            pod.links[1].directReads.get() shouldBe 2
            pod.links[0].directReads.get() shouldBe 1
            pod.links[0].bytesIn.get() shouldBe bytes // fill's output went in; x never came from the caller again
            pod.links[1].bytesIn.get() shouldBe 16L // head only
            pod.links[0].bytesFetched.get() shouldBe bytes // once, at the end of the run
            pod.links[1].bytesFetched.get() shouldBe 16L // head
            pod.links.sumOf { it.held.size } shouldBe 0
        }
    }

    test("a node lost while another node's task needs what it held fails that task with WorkerDiedException naming the holder") {
        HoldingPod(2).use { pod ->
            val x = pod.l4.hostTensor(DType.I32, n)
            val y = pod.l4.hostTensor(DType.I32, n)
            val handle = pod.loseNode0WhileItHolds(x, "became unreachable (test)") { submit(Target.Next(1), AddOne, TaskArgs.build { input(x); output(y) }, "consume on 1") }
            val e = shouldThrow<WorkerDiedException> { handle.result(10.seconds) }
            e.workerPath shouldBe "L4 node#0@${pod.links[0].address}" // the holder, not node 1
            e.message shouldContain "it held the result of task #1 'produce'"
            e.message shouldContain "'consume on 1' needed"
            pod.l4.run { submit(Target.Next(1), AddOne, TaskArgs.build { input(y); output(x) }, "node 1 still serves") }
            x.i32(7) shouldBe 1
        }
    }

    test("a task in a child JVM reads the caller's shared memory: what a node holds of it is fetched before it is handed over") {
        HoldingPod(1, Isolation.PROCESS).use { pod ->
            val x = pod.l4.hostTensor(DType.I32, n)
            val y = pod.l4.hostTensor(DType.I32, n)
            pod.l4.run {
                submit(Target.Next(0), FillIota, TaskArgs.build { output(x); scalar(3) }, "fill")
                submit(Target.Sub, AddOne, TaskArgs.build { input(x); output(y) }, "add in a child JVM")
                submit(Target.Sub, AddOne, TaskArgs.build { input(y); output(x) }, "its successor") // chained on the child: nothing held
            }
            for (k in listOf(0L, n / 3, n - 1)) {
                y.i32(k) shouldBe (k + 4).toInt()
                x.i32(k) shouldBe (k + 5).toInt()
            }
            pod.links[0].bytesFetched.get() shouldBe bytes
            pod.links[0].held.size shouldBe 0
        }
    }

    test("a node lost while it holds what a child JVM's task needs fails that task without running it, naming the node") {
        HoldingPod(1, Isolation.PROCESS).use { pod ->
            val x = pod.l4.hostTensor(DType.I32, n)
            val y = pod.l4.hostTensor(DType.I32, n)
            val handle = pod.loseNode0WhileItHolds(x, "became unreachable (test)") { submit(Target.Sub, AddOne, TaskArgs.build { input(x); output(y) }, "consume in a child JVM") }
            val e = shouldThrow<WorkerDiedException> { handle.result(10.seconds) }
            e.workerPath shouldBe "L4 node#0@${pod.links[0].address}"
            e.message shouldContain "it held the result of task #1 'produce'"
            e.message shouldContain "'consume in a child JVM' needed"
            y.i32(5) shouldBe 0 // it never ran
            pod.l4.run { submit(Target.Sub, AddOne, TaskArgs.build { input(y); output(x) }, "the child still serves") }
            x.i32(5) shouldBe 1
        }
    }

    test("a local task that writes a held view makes the node's copy obsolete: the caller's write wins") {
        HoldingPod(1).use { pod ->
            val x = pod.l4.hostTensor(DType.I32, n)
            val part = x.slice(0, 10, 20)
            pod.l4.run {
                submit(Target.Next(0), FillIota, TaskArgs.build { output(x); scalar(0) }, "fill")
                submit(Target.Sub, FillIota, TaskArgs.build { output(part); scalar(1000) }, "local fill") // overlaps x
            }
            x.i32(9) shouldBe 9
            x.i32(10) shouldBe 1000
            x.i32(19) shouldBe 1009
            x.i32(20) shouldBe 20
            pod.links[0].bytesFetched.get() shouldBe bytes // before the local write, not after it
            pod.links[0].held.size shouldBe 0
        }
    }

    test("a node lost while it holds a result fails the task that reads it with WorkerDiedException naming the node and the producer") {
        HoldingPod(1).use { pod ->
            val x = pod.l4.hostTensor(DType.I32, n)
            val y = pod.l4.hostTensor(DType.I32, n)
            val handle = pod.loseNode0WhileItHolds(x, "became unreachable (test)") { submit(Target.Sub, AddOne, TaskArgs.build { input(x); output(y) }, "consume") }
            val e = shouldThrow<WorkerDiedException> { handle.result(10.seconds) }
            e.workerPath shouldBe "L4 node#0@${pod.links[0].address}"
            e.message shouldContain "became unreachable (test); it held the result of task #1 'produce'"
            e.message shouldContain "which task #"
            e.message shouldContain "'consume' needed, and those bytes are lost"
        }
    }

    test("a node lost while it holds a result that nothing read fails the run at its end") {
        HoldingPod(1).use { pod ->
            val x = pod.l4.hostTensor(DType.I32, n)
            val handle = pod.loseNode0WhileItHolds(x, "died (test)") { submit(Target.Sub, Nothing, TaskArgs.EMPTY, "unrelated") }
            val e = shouldThrow<WorkerDiedException> { handle.result(10.seconds) }
            e.message shouldContain "died (test); it held the result of task #1 'produce'"
            e.message shouldContain "which the end of run #"
            pod.residency.isEmpty shouldBe true // dropped: the next run starts clean
        }
    }

    test("a link that keeps no results gets every result back at once") {
        val node = Worker(WorkerConfig(level = 3, subWorkers = 1))
        val link = LoopbackLink(level = 3, worker = node, chunk = 64 * 1024, keep = false)
        Worker(WorkerConfig(level = 4, subWorkers = 1, nextLevel = listOf(NextLevelChild.Remote(link)), closeTimeout = 2.seconds)).use { l4 ->
            val x = l4.hostTensor(DType.I32, n)
            l4.run {
                submit(Target.Next(0), FillIota, TaskArgs.build { output(x); scalar(1) }, "fill")
                submit(Target.Next(0), Scale, TaskArgs.build { inout(x); scalar(2) }, "scale")
            }
            x.i32(n - 1) shouldBe (n * 2).toInt()
            link.keptCount.get() shouldBe 0
            link.bytesBack.get() shouldBe 2 * bytes
            link.bytesIn.get() shouldBe 2 * bytes
        }
        node.close()
    }

    test("what a node holds of a scope's allocation is dropped unread once the scope's bytes go back") {
        HoldingPod(1).use { pod ->
            val out = pod.l4.hostTensor(DType.I32, 4)
            pod.l4.run {
                scope {
                    val t = alloc(DType.I32, n)
                    submit(Target.Next(0), FillIota, TaskArgs.build { output(t); scalar(7) }, "fill scratch")
                    submit(Target.Next(0), HeadPlusOne, TaskArgs.build { input(t); output(out) }, "read scratch") // read where it is
                }
            }
            out.i32(3) shouldBe 11
            pod.links[0].heldReads.get() shouldBe 1
            pod.links[0].bytesFetched.get() shouldBe 16L // out; never the scratch, whose bytes went back to their ring
            pod.links[0].held.size shouldBe 0
        }
    }
})
