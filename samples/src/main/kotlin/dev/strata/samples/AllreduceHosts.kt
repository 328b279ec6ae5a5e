package dev.strata.samples

import dev.strata.run.RunStats
import dev.strata.chip.ChipConfig
import dev.strata.chip.CommBufferSpec
import dev.strata.chip.CommDomainSpec
import dev.strata.cluster.LocalNode
import dev.strata.cluster.remoteNode
import dev.strata.dsl.node
import dev.strata.dsl.sub
import dev.strata.dsl.submit
import dev.strata.dsl.worker
import dev.strata.task.TaskCallable
import dev.strata.task.TaskContext
import dev.strata.tensor.DType
import dev.strata.tensor.Tensor
import dev.strata.worker.NextLevelChild
import dev.strata.worker.Worker
import java.io.PrintStream
import java.lang.foreign.MemorySegment
import java.lang.foreign.ValueLayout
import java.util.Locale
import java.util.concurrent.Executors

/**
 * `allreduce --hosts H --chips C`: the allreduce over H·C chips on H hosts (issue 15). Each host is a
 * level-3 node JVM on loopback (`LocalNode`; on a real cluster, `strata node` on each machine) with C
 * chips (`sim`, or `acl` on the ACL emulator or CANN); a level-4 worker in this JVM drives them as remote nodes. Global rank `g = h·C + c` starts
 * with `i + 100·g`, as in the one-host sample, and every rank must end with `N·i + 100·N(N−1)/2`.
 *
 * The level-4 program, per iteration: (1) on every host, [HostReduce] sums the host's chips through their
 * communication domain (the one-host allreduce) and sends the host's sum back; (2) a level-4 sub task
 * adds the host sums ([AddHostSums]); (3) on every host, [HostBroadcast] copies the total into every
 * chip's device memory and reads each chip's copy back into the rank results, which this JVM checks
 * bit for bit.
 */
internal object AllreduceHosts {
    fun run(o: AllreduceOptions, out: PrintStream, tamper: (Tensor) -> Unit = {}): Int {
        val h = o.hosts
        val c = o.chips
        val m = o.elements
        val n = h * c
        out.println(
            "allreduce: $h hosts (node JVMs on loopback) × $c ${o.driver} chips (${if (o.isolation == dev.strata.worker.Isolation.PROCESS) "child JVMs" else "threads"}), " +
                "$n ranks, $m I32 elements (${m * 4 / 1024} KiB per rank)",
        )
        val started = System.nanoTime()
        val nodes = ArrayList<LocalNode>()
        // The chips of each node find the sample's C kernels where this JVM does.
        val kernels = if (o.driver == ChipConfig.SIM) emptyList() else listOf("-Dstrata.samples.kernels=${AllreduceKernelFiles.aclKernels().parent}")
        val start = { seed: String? -> LocalNode.start(seed, subWorkers = 1, chips = c, chipIsolation = o.isolation, driver = o.driver, jvmOptions = kernels) }
        try {
            nodes += start(null)
            if (h > 1) {
                val pool = Executors.newFixedThreadPool(h - 1)
                try {
                    val rest = (1 until h).map { pool.submit<LocalNode> { start(nodes[0].hostPort) } }
                    rest.forEach { f -> runCatching { f.get() }.onSuccess { nodes += it }.onFailure { throw it.cause ?: it } }
                } finally {
                    pool.shutdown()
                }
            }
            worker(level = 4) {
                o.trace?.let { trace(it) } // the level-4 worker's timeline: each node's tasks as this host saw them
                subWorkers(1)
                for (node in nodes) remoteNode(node.hostPort)
            }.use { l4 ->
                out.println(String.format(Locale.ROOT, "  start-up: %.0f ms (%d node JVMs Up and joined, chips ready)", (System.nanoTime() - started) / 1e6, h))
                val job = HostsJob(l4, c, m)
                val times = o.bars.steps("allreduce over $h hosts", o.iterations) { step -> DoubleArray(o.iterations) { job.iterate().also { step() } } }
                val ranks = job.ranks()
                tamper(ranks[0])
                job.lastRun?.let { out.println("  last ${it.summary()}") }
                return AllreduceSample.report(out, times, m, ranks, "all $n ranks on $h hosts hold")
            }
        } finally {
            LocalNode.closeAll(nodes) // together: each node's orderly stop takes seconds
        }
    }
}

/**
 * The level-4 allreduce over [l4]'s next-level children (each a level-3 worker with [chipsPerHost] chips:
 * remote nodes or local ones alike), [m] I32 elements per rank.
 */
internal class HostsJob(private val l4: Worker, private val chipsPerHost: Int, private val m: Long) {
    private val hosts = l4.nextLevelCount
    private val sums = List(hosts) { l4.hostTensor(DType.I32, m, label = "host-sum#$it") }
    private val total = l4.hostTensor(DType.I32, m, label = "total")
    private val results = List(hosts) { l4.hostTensor(DType.I32, chipsPerHost.toLong(), m, label = "results#$it") }

    /** One allreduce; its seconds. */
    fun iterate(): Double {
        val (seconds, stats) = l4.timedRun {
            for (k in 0 until hosts) submit(node(k), "host-reduce#$k", { output(sums[k]); scalar(k.toLong()); scalar(m) }, HostReduce)
            submit(sub, "add-host-sums", { sums.forEach { input(it) }; output(total) }, AddHostSums)
            for (k in 0 until hosts) submit(node(k), "host-broadcast#$k", { input(total); output(results[k]) }, HostBroadcast)
        }
        lastRun = stats
        return seconds
    }

    /** The statistics of the last run of [iterate], or null before the first. */
    var lastRun: RunStats? = null
        private set

    /** Every rank's result (global rank order: host, then chip), as read back from its chip. */
    fun ranks(): List<Tensor> = results.flatMap { r -> List(chipsPerHost) { i -> r.buffer.view(DType.I32, i * m, longArrayOf(m), longArrayOf(1)) } }
}

/** The allreduce state of each level-3 worker in this JVM, by element count (device memory and the domain stay between runs). */
private val hostJobs = java.util.WeakHashMap<Worker, MutableMap<Long, AllreduceJob>>()

private fun nodeWorker(context: TaskContext): Worker = context.worker as? Worker
    ?: throw IllegalStateException("${context.workerPath} must be a node serving a level-3 worker")

/**
 * The node's job for [m] elements: the chips' domain created on first use, inputs of global ranks
 * `host·C + c`, on the driver the node's chips have (every chip of a node has the same one).
 */
private fun hostJob(w: Worker, host: Int, m: Long): AllreduceJob = synchronized(hostJobs) { hostJobs.getOrPut(w) { HashMap() } }.computeIfAbsent(m) {
    val chips = w.config.chipIndices
    val driver = w.config.nextLevel.filterIsInstance<NextLevelChild.Chip>().map { it.config.driver }.distinct().singleOrNull()
        ?: throw IllegalStateException("${w.config.nextLevel.size} chips of mixed drivers on this node: the hosts' allreduce needs one driver per node")
    if (AllreduceProgram.DOMAIN !in w.domainNames) {
        w.createDomain(CommDomainSpec(AllreduceProgram.DOMAIN, chips, (m * 4 + 63) / 64 * 64, listOf(CommBufferSpec(AllreduceProgram.BUFFER, DType.I32, m))))
    }
    AllreduceJob(w, chips.size, m, driver, rankOffset = host * chips.size)
}

/** On a node: sums its chips' inputs through their domain; tensor 0 (OUTPUT) gets the host's sum. Scalars: host index, M. */
internal object HostReduce : TaskCallable {
    override fun call(context: TaskContext) {
        val w = nodeWorker(context)
        val job = hostJob(w, context.scalar(0).toInt(), context.scalar(1))
        job.iterate()
        val sum = job.readBack(0)
        MemorySegment.copy(sum.asSegment(), 0, context.tensor(0).asSegment(), 0, sum.elementCount * 4)
    }
}

/** On the level-4 worker: tensor k (k < last) are the host sums, the last tensor their total. */
internal object AddHostSums : TaskCallable {
    override fun call(context: TaskContext) {
        val hosts = context.args.tensorCount - 1
        val total = context.tensor(hosts).asSegment()
        val sums = List(hosts) { context.tensor(it).asSegment() }
        for (k in 0 until total.byteSize() / 4) {
            var s = 0
            for (x in sums) s += x.getAtIndex(ValueLayout.JAVA_INT_UNALIGNED, k)
            total.setAtIndex(ValueLayout.JAVA_INT_UNALIGNED, k, s)
        }
    }
}

/** On a node: copies tensor 0 (the total) into every chip's device output and reads each back into row c of tensor 1. */
internal object HostBroadcast : TaskCallable {
    override fun call(context: TaskContext) {
        val w = nodeWorker(context)
        val total = context.tensor(0)
        val m = total.elementCount
        val job = synchronized(hostJobs) { hostJobs[w]?.get(m) } ?: throw IllegalStateException("host-broadcast before host-reduce for $m elements on ${context.workerPath}")
        val staged = w.hostTensor(DType.I32, m, label = "total")
        MemorySegment.copy(total.asSegment(), 0, staged.asSegment(), 0, m * 4)
        val rows = context.tensor(1).asSegment()
        for (c in 0 until job.chips) {
            job.writeOutput(c, staged)
            MemorySegment.copy(job.readBack(c).asSegment(), 0, rows, c * m * 4, m * 4)
        }
    }
}
