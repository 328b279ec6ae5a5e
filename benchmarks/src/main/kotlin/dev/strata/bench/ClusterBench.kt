package dev.strata.bench

import dev.strata.cluster.ClusterClient
import dev.strata.cluster.LocalNode
import dev.strata.task.TaskArgs
import dev.strata.task.TaskCallable
import dev.strata.task.TaskContext
import dev.strata.task.Target
import dev.strata.tensor.DType
import dev.strata.tensor.Tensor
import dev.strata.remote.RemoteLink
import dev.strata.worker.NextLevelChild
import dev.strata.worker.Worker
import dev.strata.worker.WorkerConfig
import java.io.PrintStream
import java.net.InetAddress
import java.net.ServerSocket
import java.net.Socket
import java.time.Instant
import java.time.temporal.ChronoUnit
import java.util.Locale
import kotlin.time.Duration.Companion.seconds

/** Reads its input tensor's first byte (the bytes had to arrive) and writes one long. */
public object TouchInput : TaskCallable {
    override fun call(context: TaskContext) {
        context.tensor(1).setLong(0, context.tensor(0).getByteAt(0).toLong())
    }
}

/** Adds one to its tensor's first byte: a task that reads and writes a big tensor it hardly touches. */
public object BumpFirst : TaskCallable {
    override fun call(context: TaskContext) {
        val t = context.tensor(0)
        t.setByteAt(0, (t.getByteAt(0) + 1).toByte())
    }
}

/**
 * `./strata bench cluster` (issue 15): level 4 across hosts on loopback — two node JVMs ([LocalNode]) and a
 * level-4 worker in this JVM. Prints one JSON line:
 * `rtt_1task_remote_us` (p50 and p90 of `run()` of one no-op task on a remote node),
 * `pekko_ask_rtt_us` (p50 of a bare request/response with a node: the transport's own floor),
 * `tasks_per_s_2_nodes` (no-op tasks alternating between the two nodes in one run),
 * `tensor_mb_per_s` (a task on a node reading a 64 MiB tensor of this JVM: MB/s of the pull),
 * `chain_64mib_ms` (a run of four tasks on one node over one 64 MiB tensor — write, update twice, read —
 * whose result stays on the node between them) and `handoff_64mib_ms` (the same four tasks alternating
 * between the two nodes: each reads the tensor straight from the other node), each beside its
 * `…_results_back_ms` (the same run with results that come back at once: a link that keeps nothing),
 * beside the floors measured in the same run on loopback TCP between two threads of this JVM:
 * `tcp_rtt_floor_us` (one-byte ping-pong, p50) and `tcp_floor_mb_per_s` (64 MiB in 192 KiB writes).
 */
public object ClusterBench : Bench {
    override val name: String = "cluster"
    override val description: String = "level 4 across hosts on loopback: remote one-task round trip, tasks/s to 2 nodes, tensor MB/s, TCP floors"

    private const val TENSOR_BYTES = 64L shl 20

    override fun run(args: List<String>, out: PrintStream): Int {
        val options = BenchOptions(name, description)
        options.parseOrStatus(args, out)?.let { return it }
        val quick = options.quick
        val rttSamples = if (quick) 200 else 3_000
        val throughputTasks = if (quick) 500 else 10_000
        val tensorRounds = if (quick) 1 else 3
        options.progress.println("cluster: starting 2 node JVMs on loopback…")
        val nodes = ArrayList<LocalNode>()
        try {
            nodes += LocalNode.start(seed = null, subWorkers = 1)
            nodes += LocalNode.start(seed = nodes[0].hostPort, subWorkers = 1)
            ClusterClient.start(nodes[0].hostPort).use { client ->
                Worker(WorkerConfig(level = 4, subWorkers = 1, nextLevel = nodes.map { client.remoteNode(it.hostPort) }, closeTimeout = 5.seconds, trace = options.traceFor("nodes", 2))).use { w ->
                    options.progress.println("cluster: one-task round trips, ${rttSamples / 5} warm-up + $rttSamples…")
                    repeat(rttSamples / 5) { w.run { submit(Target.Next(0), NoOpTask, TaskArgs.EMPTY) } }
                    val rtt = LongArray(rttSamples)
                    for (i in 0 until rttSamples) {
                        val s = System.nanoTime()
                        w.run { submit(Target.Next(0), NoOpTask, TaskArgs.EMPTY) }
                        rtt[i] = System.nanoTime() - s
                    }
                    repeat(rttSamples / 5) { client.describe(nodes[0].hostPort) }
                    val ask = LongArray(rttSamples) {
                        val s = System.nanoTime()
                        client.describe(nodes[0].hostPort)
                        System.nanoTime() - s
                    }
                    options.progress.println("cluster: $throughputTasks no-op tasks over 2 nodes…")
                    val t0 = System.nanoTime()
                    w.run { for (i in 0 until throughputTasks) submit(Target.Next(i % 2), NoOpTask, TaskArgs.EMPTY) }
                    val tasksPerS = throughputTasks / ((System.nanoTime() - t0) / 1e9)
                    options.progress.println("cluster: a 64 MiB tensor read on a node, $tensorRounds round(s)…")
                    val big = w.hostTensor(DType.U8, TENSOR_BYTES)
                    val one = w.hostTensor(DType.I64, 1)
                    val mbps = List(tensorRounds) {
                        val s = System.nanoTime()
                        w.run { submit(Target.Next(1), TouchInput, TaskArgs.build { input(big); output(one) }) }
                        TENSOR_BYTES / ((System.nanoTime() - s) / 1e9) / 1e6
                    }.sorted()
                    options.progress.println("cluster: chains of 4 tasks over 64 MiB, on one node and across two, $tensorRounds round(s) each, kept and sent back…")
                    val chain = chainMillis(w, big, one, tensorRounds, intArrayOf(0, 0, 0, 0))
                    val handoff = chainMillis(w, big, one, tensorRounds, intArrayOf(0, 1, 0, 1))
                    val links = nodes.map { ResultsBack(client.remoteNode(it.hostPort).link) }
                    val (chainBack, handoffBack) = Worker(
                        WorkerConfig(level = 4, subWorkers = 1, nextLevel = links.map { NextLevelChild.Remote(it) }, closeTimeout = 5.seconds, trace = options.traceFor("results-back", 2)),
                    ).use { back ->
                        val b = back.hostTensor(DType.U8, TENSOR_BYTES)
                        val o = back.hostTensor(DType.I64, 1)
                        chainMillis(back, b, o, tensorRounds, intArrayOf(0, 0, 0, 0)) to chainMillis(back, b, o, tensorRounds, intArrayOf(0, 1, 0, 1))
                    }
                    val (tcpRtt, tcpMbps) = tcpFloors(rttSamples, options.progress)
                    val rtts = Latencies.of(rtt)
                    val fields = linkedMapOf<String, Any>(
                        "bench" to "cluster",
                        "rtt_1task_remote_us" to fmt(rtts.percentile(0.50) / 1e3),
                        "rtt_1task_remote_p90_us" to fmt(rtts.percentile(0.90) / 1e3),
                        "pekko_ask_rtt_us" to fmt(Latencies.of(ask).percentile(0.50) / 1e3),
                        "tasks_per_s_2_nodes" to fmt(tasksPerS),
                        "tensor_mb_per_s" to fmt(mbps[mbps.size / 2]),
                        "tcp_rtt_floor_us" to fmt(tcpRtt),
                        "tcp_floor_mb_per_s" to fmt(tcpMbps),
                        "tensor_ratio_to_tcp" to fmt(mbps[mbps.size / 2] / tcpMbps),
                        "chain_64mib_ms" to fmt(chain),
                        "chain_64mib_results_back_ms" to fmt(chainBack),
                        "handoff_64mib_ms" to fmt(handoff),
                        "handoff_64mib_results_back_ms" to fmt(handoffBack),
                        "quick" to quick,
                        "jdk" to Runtime.version().toString().substringBefore('+'),
                        "cores" to Runtime.getRuntime().availableProcessors(),
                        "date" to Instant.now().truncatedTo(ChronoUnit.SECONDS).toString(),
                    )
                    out.println(json(fields))
                }
            }
            return 0
        } finally {
            LocalNode.closeAll(nodes)
        }
    }

    /** Median wall time (ms) of a run of 4 tasks over [big] on nodes [on]: write, update, update, read. */
    private fun chainMillis(w: Worker, big: Tensor, one: Tensor, rounds: Int, on: IntArray): Double = List(rounds) {
        val s = System.nanoTime()
        w.run {
            submit(Target.Next(on[0]), BumpFirst, TaskArgs.build { output(big) }, "write")
            submit(Target.Next(on[1]), BumpFirst, TaskArgs.build { inout(big) }, "update")
            submit(Target.Next(on[2]), BumpFirst, TaskArgs.build { inout(big) }, "update")
            submit(Target.Next(on[3]), TouchInput, TaskArgs.build { input(big); output(one) }, "read")
        }
        (System.nanoTime() - s) / 1e6
    }.sorted()[rounds / 2]

    /** A link whose node keeps no result: every result comes back at once (the `…_results_back_ms` figures). */
    private class ResultsBack(private val link: RemoteLink) : RemoteLink by link {
        override val keepsResults: Boolean get() = false
    }

    private fun fmt(v: Double): Double = String.format(Locale.ROOT, "%.2f", v).toDouble()

    /** Loopback TCP between two threads of this JVM: one-byte ping-pong p50 (µs), and MB/s of 64 MiB in 192 KiB writes. */
    private fun tcpFloors(samples: Int, progress: PrintStream): Pair<Double, Double> {
        progress.println("cluster: loopback TCP floors…")
        ServerSocket(0, 1, InetAddress.getLoopbackAddress()).use { server ->
            val echo = Thread {
                server.accept().use { s ->
                    s.tcpNoDelay = true
                    val i = s.getInputStream()
                    val o = s.getOutputStream()
                    repeat(samples * 2) { o.write(i.read()); o.flush() }
                    val buf = ByteArray(192 * 1024)
                    var left = TENSOR_BYTES
                    while (left > 0) {
                        val n = i.read(buf, 0, minOf(buf.size.toLong(), left).toInt())
                        if (n < 0) break
                        left -= n
                    }
                    o.write(1)
                    o.flush()
                }
            }.apply { isDaemon = true; start() }
            Socket(InetAddress.getLoopbackAddress(), server.localPort).use { c ->
                c.tcpNoDelay = true
                val i = c.getInputStream()
                val o = c.getOutputStream()
                repeat(samples) { o.write(1); o.flush(); i.read() } // warm-up
                val t = LongArray(samples)
                for (k in 0 until samples) {
                    val s = System.nanoTime()
                    o.write(1); o.flush(); i.read()
                    t[k] = System.nanoTime() - s
                }
                val chunk = ByteArray(192 * 1024)
                val s = System.nanoTime()
                var sent = 0L
                while (sent < TENSOR_BYTES) {
                    val n = minOf(chunk.size.toLong(), TENSOR_BYTES - sent).toInt()
                    o.write(chunk, 0, n)
                    sent += n
                }
                o.flush()
                i.read()
                val mbps = TENSOR_BYTES / ((System.nanoTime() - s) / 1e9) / 1e6
                echo.join(5_000)
                return Latencies.of(t).percentile(0.50) / 1e3 to mbps
            }
        }
    }
}
