package dev.strata.cluster

import dev.strata.error.InvalidConfigException
import dev.strata.process.assertNoLeftovers
import io.kotest.assertions.throwables.shouldThrow
import io.kotest.core.spec.style.FunSpec
import io.kotest.matchers.collections.shouldContainExactlyInAnyOrder
import io.kotest.matchers.shouldBe
import io.kotest.matchers.string.shouldContain
import io.kotest.matchers.string.shouldStartWith
import java.net.ServerSocket
import kotlin.time.Duration.Companion.seconds

private const val PASSWORD = "strata-test-pw"

/** A fresh self-signed RSA key in a PKCS12 store (keytool of the running JDK): one cluster's "cookie". */
private fun keystore(dir: java.io.File, name: String): java.nio.file.Path {
    val keytool = java.nio.file.Path.of(System.getProperty("java.home"), "bin", "keytool").toString()
    val file = java.io.File(dir, "$name.p12")
    val p = ProcessBuilder(
        keytool, "-genkeypair", "-alias", name, "-keyalg", "RSA", "-keysize", "2048", "-validity", "2", "-dname", "CN=strata-$name",
        "-storetype", "PKCS12", "-keystore", file.path, "-storepass", PASSWORD, "-keypass", PASSWORD,
    ).redirectErrorStream(true).start()
    val out = p.inputStream.readAllBytes().decodeToString()
    check(p.waitFor() == 0) { "keytool failed: $out" }
    return file.toPath()
}

/** A 3 MiB tensor to node 0 and its 3 MiB result back (more than travels inline either way), every byte checked. */
private fun roundTrip(l4: dev.strata.worker.Worker) {
    val n = 3L shl 17 // 3 MiB of longs
    val x = l4.hostTensor(dev.strata.tensor.DType.I64, n)
    val sum = l4.hostTensor(dev.strata.tensor.DType.I64, 1)
    l4.run { submit(dev.strata.task.Target.Next(0), FillI64, dev.strata.task.TaskArgs.build { output(x); scalar(5); scalar(1) }) }
    for (k in listOf(0L, 12345L, n - 1)) x.getLong(k) shouldBe 5 * k + 1
    l4.run { submit(dev.strata.task.Target.Next(0), SumI64, dev.strata.task.TaskArgs.build { input(x); output(sum) }) }
    sum.getLong(0) shouldBe 5 * (n * (n - 1) / 2) + n
}

/** Three members on loopback (two level-3 nodes, one probe) in this JVM: membership, discovery, describe, clean leave. */
class ClusterNodeSpec : FunSpec({
    afterSpec { assertNoLeftovers("ClusterNodeSpec") }

    test("a seed and a joining node: both Up, discovered through the receptionist, described over the wire; leaving frees their ports") {
        val seed = ClusterNode.start(NodeSettings(), ClusterNode.nodeWorker(subWorkers = 2, chips = 0))
        var port = -1
        try {
            seed.address shouldStartWith "pekko://strata@127.0.0.1:"
            seed.isUp shouldBe true
            ClusterNode.start(NodeSettings(seeds = listOf(seed.hostPort)), ClusterNode.nodeWorker(subWorkers = 1, chips = 0)).use { joiner ->
                port = joiner.hostPort.substringAfterLast(':').toInt()
                val members = ClusterProbe.members(seed.hostPort, timeout = 20.seconds)
                members.map { it.address } shouldContainExactlyInAnyOrder listOf(seed.address, joiner.address)
                for (m in members) {
                    m.roles shouldBe setOf(NodeSettings.ROLE_L3)
                    m.status shouldBe "Up"
                    m.reachable shouldBe true
                }
                members.first { it.address == joiner.address }.node shouldBe NodeInfo(joiner.address, 3, 1, emptyList())
                members.first { it.address == seed.address }.node shouldBe NodeInfo(seed.address, 3, 2, emptyList())
            }
        } finally {
            seed.close()
        }
        ServerSocket(port).close() // the joiner's port is free again: nothing left listening
    }

    test("mutual TLS: a member with the cluster's certificate joins and submits; one with another certificate cannot join (nor submit), within its join timeout") {
        val dir = kotlin.io.path.createTempDirectory("strata-tls").toFile()
        try {
            val ours = keystore(dir, "ours").let { ClusterTls(it, PASSWORD, it, PASSWORD) }
            val theirs = keystore(dir, "theirs").let { ClusterTls(it, PASSWORD, it, PASSWORD) }
            ClusterNode.start(NodeSettings(tls = ours), ClusterNode.nodeWorker(1, 0)).use { seed ->
                ClusterNode.start(NodeSettings(seeds = listOf(seed.hostPort), tls = ours), ClusterNode.nodeWorker(1, 0)).use { it.isUp shouldBe true }
                val e = shouldThrow<IllegalStateException> {
                    ClusterNode.start(NodeSettings(seeds = listOf(seed.hostPort), tls = theirs, joinTimeout = 5.seconds), ClusterNode.nodeWorker(1, 0))
                }
                e.message shouldContain "is TLS configured alike"
                // A level-4 program with the cluster's certificate submits to the node; one without it cannot join to submit.
                ClusterClient.start(seed.hostPort, NodeSettings(tls = ours)).use { client ->
                    dev.strata.worker.Worker(dev.strata.worker.WorkerConfig(level = 4, nextLevel = listOf(client.remoteNode(seed.hostPort)))).use { l4 ->
                        val x = l4.hostTensor(dev.strata.tensor.DType.I64, 1)
                        l4.run { submit(dev.strata.task.Target.Next(0), AddI64, dev.strata.task.TaskArgs.build { inout(x); scalar(3) }) }
                        x.getLong(0) shouldBe 3
                        val before = DataPlane.served.get()
                        roundTrip(l4) // 3 MiB each way: the data plane, over TLS with the cluster's stores
                        (DataPlane.served.get() - before) shouldBe 3 * (3L shl 20) // fill: in and back; sum: in (its 8-byte result rides inline)
                    }
                }
                shouldThrow<IllegalStateException> { ClusterClient.start(seed.hostPort, NodeSettings(tls = theirs, joinTimeout = 5.seconds)) }
                    .message shouldContain "is TLS configured alike"
            }
        } finally {
            dir.deleteRecursively()
        }
    }

    test("with the data plane off, tensor bytes travel through Artery in chunks under its frame limit") {
        ClusterNode.start(NodeSettings(dataPlane = false), ClusterNode.nodeWorker(1, 0)).use { node ->
            ClusterClient.start(node.hostPort, NodeSettings(dataPlane = false)).use { client ->
                val before = DataPlane.served.get()
                dev.strata.worker.Worker(dev.strata.worker.WorkerConfig(level = 4, nextLevel = listOf(client.remoteNode(node.hostPort)))).use { roundTrip(it) }
                DataPlane.served.get() shouldBe before
            }
        }
    }

    test("a node keeps results only while someone may read them: released after the run, dropped when their caller leaves the cluster") {
        ClusterNode.start(NodeSettings(), ClusterNode.nodeWorker(1, 0)).use { node ->
            fun settles(what: String, ok: () -> Boolean) {
                val deadline = System.nanoTime() + 20_000_000_000L
                while (!ok()) {
                    check(System.nanoTime() < deadline) { "$what: still ${node.retainedRequests} request(s) held after 20 s" }
                    Thread.sleep(20)
                }
            }
            val client = ClusterClient.start(node.hostPort)
            val l4 = dev.strata.worker.Worker(dev.strata.worker.WorkerConfig(level = 4, nextLevel = listOf(client.remoteNode(node.hostPort))))
            var open: dev.strata.run.RunHandle? = null
            try {
                val x = l4.hostTensor(dev.strata.tensor.DType.I64, 1L shl 18) // 2 MiB: it stays on the node
                l4.run { submit(dev.strata.task.Target.Next(0), FillI64, dev.strata.task.TaskArgs.build { output(x); scalar(2); scalar(0) }) }
                x.getLong(99) shouldBe 198
                settles("after a run") { node.retainedRequests == 0 } // fetched at the end of the run, then released
                // A run that leaves a result on the node and never ends; then its caller leaves the cluster.
                open = l4.submit {
                    submit(dev.strata.task.Target.Next(0), FillI64, dev.strata.task.TaskArgs.build { output(x); scalar(3); scalar(0) })
                    after(gate("never")) { submit(dev.strata.task.Target.Next(0), FillI64, dev.strata.task.TaskArgs.build { output(x); scalar(4); scalar(0) }) }
                }
                settles("while the run holds it") { node.retainedRequests == 1 }
                client.close()
                settles("after its caller left") { node.retainedRequests == 0 }
            } finally {
                open?.cancel()
                l4.close()
                client.close()
            }
        }
    }

    test("a non-loopback bind without TLS is refused, naming the fix; bad seeds and ports are named too") {
        val e = shouldThrow<InvalidConfigException> { NodeSettings(hostname = "10.1.2.3", port = 70000, seeds = listOf("nohost")).validate() }
        e.message shouldContain "binding 10.1.2.3 (not loopback) needs mutual TLS"
        e.message shouldContain "port must be in 0..65535, was 70000"
        e.message shouldContain "seed 'nohost' is not host:port"
        NodeSettings(hostname = "localhost").validate()
        NodeSettings.seedAddress("10.0.0.1:25520") shouldBe "pekko://strata@10.0.0.1:25520"
    }

    test("joining a seed that is not there fails within the join timeout, naming the seeds, and leaves nothing running") {
        val free = ServerSocket(0).use { it.localPort }
        val e = shouldThrow<IllegalStateException> {
            ClusterNode.start(NodeSettings(seeds = listOf("127.0.0.1:$free"), joinTimeout = 3.seconds), ClusterNode.nodeWorker(1, 0))
        }
        e.message shouldContain "was not Up within 3s"
        e.message shouldContain "127.0.0.1:$free"
    }
})
