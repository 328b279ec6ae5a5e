package dev.strata.remote

import dev.strata.error.InvalidCallableException
import dev.strata.error.InvalidConfigException
import dev.strata.error.TaskFailedException
import dev.strata.error.WorkerDiedException
import dev.strata.task.TaskArgs
import dev.strata.task.TaskCallable
import dev.strata.task.TaskContext
import dev.strata.task.Target
import dev.strata.tensor.DType
import dev.strata.worker.NextLevelChild
import dev.strata.worker.Worker
import dev.strata.worker.WorkerConfig
import io.kotest.matchers.string.shouldMatch
import io.kotest.assertions.throwables.shouldThrow
import io.kotest.core.spec.style.FunSpec
import io.kotest.matchers.collections.shouldContainExactly
import io.kotest.matchers.shouldBe
import io.kotest.matchers.string.shouldContain
import io.kotest.matchers.string.shouldStartWith
import io.kotest.matchers.types.shouldBeInstanceOf
import java.util.concurrent.CountDownLatch
import java.util.concurrent.TimeUnit
import kotlin.time.Duration.Companion.seconds

/** out[i] = in[i] + 1 over I32 elements (any views). */
object AddOne : TaskCallable {
    override fun call(context: TaskContext) {
        val a = context.tensor(0)
        val b = context.tensor(1)
        for (k in 0 until a.elementCount) b.setIntAt(k, a.getIntAt(k) + 1)
    }
}

/** x[i] *= scalar 0, in place. */
object Scale : TaskCallable {
    override fun call(context: TaskContext) {
        val x = context.tensor(0)
        for (k in 0 until x.elementCount) x.setIntAt(k, (x.getIntAt(k) * context.scalar(0)).toInt())
    }
}

/** Writes the worker path it sees into nothing; fails with a message naming it. */
object Explode : TaskCallable {
    override fun call(context: TaskContext) = throw IllegalArgumentException("boom on ${context.workerPath}")
}

/** Runs a nested run on the node's worker whose sub task fails. */
object NestedExplode : TaskCallable {
    override fun call(context: TaskContext) = context.worker.run {
        submit(Target.Sub, Explode, TaskArgs.EMPTY, "inner")
    }
}

/** Blocks until [release] (or 30 s): a task that is running when its node is lost. */
object Hang : TaskCallable {
    @Volatile
    var started = CountDownLatch(1)

    @Volatile
    var release = CountDownLatch(1)

    override fun call(context: TaskContext) {
        started.countDown()
        release.await(30, TimeUnit.SECONDS)
    }
}

private fun dev.strata.tensor.Tensor.getIntAt(k: Long): Int = buffer.let { _ ->
    java.nio.ByteBuffer.wrap(ByteArray(4).also { b -> for (i in 0 until 4) b[i] = getByteAtOffset(byteOffsetOf(k) + i) }).order(java.nio.ByteOrder.nativeOrder()).int
}

private fun dev.strata.tensor.Tensor.setIntAt(k: Long, v: Int) {
    val b = java.nio.ByteBuffer.allocate(4).order(java.nio.ByteOrder.nativeOrder()).putInt(v).array()
    for (i in 0 until 4) setByteAtOffset(byteOffsetOf(k) + i, b[i])
}

private fun dev.strata.tensor.Tensor.getByteAtOffset(off: Long): Byte = buffer.segment!!.get(java.lang.foreign.ValueLayout.JAVA_BYTE, off)
private fun dev.strata.tensor.Tensor.setByteAtOffset(off: Long, v: Byte) = buffer.segment!!.set(java.lang.foreign.ValueLayout.JAVA_BYTE, off, v)

/** A level-4 worker over [n] loopback nodes, each serving a level-3 worker with 2 sub workers. */
private class Pod(n: Int, chunk: Int = 4096) : AutoCloseable {
    val nodes = List(n) { Worker(WorkerConfig(level = 3, subWorkers = 2)) }
    val links = nodes.map { LoopbackLink(level = 3, worker = it, chunk = chunk) }
    val l4 = Worker(WorkerConfig(level = 4, subWorkers = 1, nextLevel = links.map { NextLevelChild.Remote(it) }, closeTimeout = 2.seconds))

    override fun close() {
        l4.close()
        nodes.forEach { it.close() }
    }
}

class RemoteEndpointSpec : FunSpec({
    test("tasks on remote nodes read their inputs there and write their outputs back, strided views and chunks included") {
        Pod(2, chunk = 1000).use { pod ->
            val n = 3000L // 12000 bytes: 12 chunks each way
            val a = pod.l4.hostTensor(DType.I32, 60, 50)
            val b = pod.l4.hostTensor(DType.I32, 50, 60)
            for (k in 0 until n) a.setIntAt(k, k.toInt())
            val at = a.transpose() // a strided view of a: element (i, j) = a[j, i]
            pod.l4.run {
                submit(Target.Next(0), AddOne, TaskArgs.build { input(at); output(b) }, "add")
                submit(Target.Next(1), Scale, TaskArgs.build { inout(b); scalar(3) }, "scale")
            }
            for (i in 0 until 50L) for (j in 0 until 60L) b.getIntAt(i * 60 + j) shouldBe (j * 50 + i + 1).toInt() * 3
        }
    }

    test("arguments that overlap travel as one span, so the node sees the caller's aliasing") {
        Pod(1).use { pod ->
            val x = pod.l4.hostTensor(DType.I32, 16)
            for (k in 0 until 16L) x.setIntAt(k, k.toInt() * 10)
            val buf = x.buffer
            val lo = buf.view(DType.I32, 0, longArrayOf(8), longArrayOf(1))
            val hi = buf.view(DType.I32, 4, longArrayOf(8), longArrayOf(1)) // overlaps lo's second half
            val expected = IntArray(16) { it * 10 }
            for (k in 0 until 8) expected[4 + k] = expected[k] + 1 // element by element, in order, as in-process
            pod.l4.run { submit(Target.Next(0), AddOne, TaskArgs.build { input(lo); output(hi) }) }
            (0 until 16L).map { x.getIntAt(it) } shouldContainExactly expected.toList()
        }
    }

    test("a task that fails on a node names the node's path and address") {
        Pod(2).use { pod ->
            val e = shouldThrow<TaskFailedException> {
                pod.l4.run { submit(Target.Next(1), Explode, TaskArgs.EMPTY, "exploder") }
            }
            e.workerPath shouldBe "L4 node#1@${pod.links[1].address}"
            e.taskName shouldBe "exploder"
            e.errorClass shouldBe IllegalArgumentException::class.java.name
            e.errorMessage shouldBe "boom on L4 node#1@${pod.links[1].address}" // the task saw its caller's path
            e.cause.shouldBeInstanceOf<dev.strata.error.RemoteException>()
            pod.l4.run { submit(Target.Next(1), Scale, TaskArgs.build { inout(pod.l4.hostTensor(DType.I32, 1)); scalar(1) }) }
        }
    }

    test("a failure inside a node's nested run carries every level's prefix") {
        Pod(1).use { pod ->
            val e = shouldThrow<TaskFailedException> {
                pod.l4.run { submit(Target.Next(0), NestedExplode, TaskArgs.EMPTY, "outer") }
            }
            e.workerPath shouldMatch Regex.escape("L4 node#0@${pod.links[0].address} / L3 sub#") + "\\d" // whichever idle sub worker took it
            e.taskName shouldBe "inner"
            e.message shouldContain "boom on L3 sub#"
        }
    }

    test("a node lost mid-task fails that task with WorkerDiedException at once; later tasks to it fail fast; other nodes still serve") {
        Pod(2).use { pod ->
            Hang.started = CountDownLatch(1)
            Hang.release = CountDownLatch(1)
            try {
                val handle = pod.l4.submit { submit(Target.Next(0), Hang, TaskArgs.EMPTY, "long") }
                Hang.started.await(10, TimeUnit.SECONDS) shouldBe true
                pod.links[0].lose("became unreachable (test)")
                val e = shouldThrow<WorkerDiedException> { handle.result(5.seconds) }
                e.workerPath shouldBe "L4 node#0@${pod.links[0].address}"
                e.remoteReason shouldBe "became unreachable (test)"
                e.message shouldContain "while running task #"
                e.message shouldContain "'long'"
                e.signal shouldBe null
                val again = shouldThrow<WorkerDiedException> { pod.l4.run { submit(Target.Next(0), Scale, TaskArgs.build { scalar(1) }) } }
                again.message shouldContain "remote node L4 node#0@"
                val x = pod.l4.hostTensor(DType.I32, 1).also { it.setIntAt(0, 7) }
                pod.l4.run { submit(Target.Next(1), Scale, TaskArgs.build { inout(x); scalar(2) }) }
                x.getIntAt(0) shouldBe 14
            } finally {
                Hang.release.countDown()
            }
        }
    }

    test("a callable is admitted on the node before anything runs, once per node") {
        Pod(2).use { pod ->
            pod.links[1].admitOverride = { "class $it is not on its classpath (start the node with the jar that holds it)" }
            val x = pod.l4.hostTensor(DType.I32, 1).also { it.setIntAt(0, 5) }
            val e = shouldThrow<InvalidCallableException> {
                pod.l4.run {
                    submit(Target.Next(0), Scale, TaskArgs.build { inout(x); scalar(2) })
                    submit(Target.Next(1), Scale, TaskArgs.build { inout(x); scalar(2) })
                }
            }
            e.callableClass shouldBe Scale::class.java.name
            e.message shouldContain "L4 node#1@${pod.links[1].address}"
            e.message shouldContain "not on its classpath"
            pod.l4.run { repeat(3) { submit(Target.Next(0), Scale, TaskArgs.build { inout(x); scalar(1) }) } }
            pod.links[0].admitted.count { it.contains("Scale") } shouldBe 1
            val lambda = shouldThrow<InvalidCallableException> { pod.l4.run { submit(Target.Next(0), { }, TaskArgs.EMPTY) } }.message!!
            lambda shouldContain "cannot run on remote node L4 node#0@${pod.links[0].address}: it is a lambda. A remote node loads callables by name"
        }
    }

    test("the worker closes its links, also when it fails to start") {
        val link = LoopbackLink(level = 3)
        Worker(WorkerConfig(level = 4, nextLevel = listOf(NextLevelChild.Remote(link)))).close()
        link.closed shouldBe true
        val wrong = LoopbackLink(level = 2)
        shouldThrow<InvalidConfigException> { Worker(WorkerConfig(level = 4, nextLevel = listOf(NextLevelChild.Remote(wrong)))) }
            .message shouldContain "level-2 node at ${wrong.address}"
        wrong.closed shouldBe true
    }

    test("transfer units: a lone view travels packed, overlapping views share a span; results scatter into strided views") {
        val buf = dev.strata.tensor.Buffer.host(400)
        val x = buf.tensor(DType.I32, 10, 10)
        for (k in 0 until 100L) x.setIntAt(k, k.toInt())
        val col = x.slice(1, 3, 4) // column 3: 10 elements, stride 10
        val row = buf.view(DType.I32, 50, longArrayOf(10), longArrayOf(1)) // row 5, which crosses column 3
        val other = dev.strata.tensor.Buffer.host(16).tensor(DType.I32, 4)
        val call = RemoteCall.of("p", 1, 0, 1, "t", "obj:x", TaskArgs.build { input(col); output(row); input(other) })
        call.spec.unitSizes.size shouldBe 2
        call.spec.args[0].unit shouldBe call.spec.args[1].unit // col and row overlap at element (5, 3)
        call.spec.unitSizes[call.spec.args[0].unit] shouldBe (94 - 3) * 4L // from col's first byte to its last element's end
        call.spec.args[2].strides shouldBe listOf(1L)
        call.returnedArgs shouldBe listOf(1)
        // Packed reads of a strided view in odd chunks.
        val packed = dev.strata.remote.Packing.gather(col, 0, 40)
        val viaChunks = dev.strata.remote.Packing.gather(col, 0, 12) + dev.strata.remote.Packing.gather(col, 12, 28)
        viaChunks.toList() shouldBe packed.toList()
        dev.strata.remote.Packing.isRowMajor(x.transpose()) shouldBe false // one run of bytes, but not in row-major order
        dev.strata.remote.Packing.isRowMajor(x.slice(0, 2, 3)) shouldBe true
        // Only views whose elements never share a byte can be kept as their packed copy on a node.
        dev.strata.remote.Packing.isInjective(x.transpose()) shouldBe true
        dev.strata.remote.Packing.isInjective(col) shouldBe true
        dev.strata.remote.Packing.isInjective(buf.view(DType.I32, 0, longArrayOf(3, 4), longArrayOf(0, 1))) shouldBe false // rows repeat
        dev.strata.remote.Packing.isInjective(buf.view(DType.I32, 0, longArrayOf(3, 4), longArrayOf(2, 1))) shouldBe false // rows overlap
        dev.strata.remote.Packing.isInjective(buf.view(DType.I32, 0, longArrayOf(3, 2), longArrayOf(1, 3))) shouldBe true // interleaved
        val ints = java.nio.ByteBuffer.wrap(packed).order(java.nio.ByteOrder.nativeOrder()).asIntBuffer().let { b -> IntArray(10) { b.get(it) } }
        ints.toList() shouldBe (0 until 10).map { it * 10 + 3 }
        // Written back element by element: bytes between the elements are untouched.
        val back = java.nio.ByteBuffer.allocate(40).order(java.nio.ByteOrder.nativeOrder()).apply { repeat(10) { putInt(-it) } }.array()
        dev.strata.remote.Packing.scatter(col, 0, back.copyOfRange(0, 20))
        dev.strata.remote.Packing.scatter(col, 20, back.copyOfRange(20, 40))
        (0 until 10L).map { x.getIntAt(it * 10 + 3) } shouldBe (0 until 10).map { -it }
        x.getIntAt(4) shouldBe 4
        shouldThrow<IllegalArgumentException> { call.writeResult(0, 0, ByteArray(4)) }.message shouldContain "not written"
    }
})
