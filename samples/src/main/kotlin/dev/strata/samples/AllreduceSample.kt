package dev.strata.samples

import dev.strata.chip.ChipConfig
import dev.strata.dsl.chip
import dev.strata.dsl.submitGroup
import dev.strata.dsl.worker
import dev.strata.record.TaskGraph
import dev.strata.run.RunStats
import dev.strata.task.Orchestrator
import dev.strata.tensor.DType
import dev.strata.tensor.Tensor
import dev.strata.worker.Isolation
import dev.strata.worker.StartProgress
import dev.strata.worker.Worker
import com.github.ajalt.clikt.core.UsageError
import com.github.ajalt.clikt.parameters.options.default
import com.github.ajalt.clikt.parameters.options.option
import com.github.ajalt.clikt.parameters.types.choice
import com.github.ajalt.clikt.parameters.types.int
import com.github.ajalt.clikt.parameters.types.restrictTo
import java.io.PrintStream
import java.nio.file.Path
import java.util.Locale

/**
 * `allreduce`: N chips (2–16) sum their inputs through a communication domain. Rank r's input is
 * `i + 100·r`; every rank must end with `n·i + 100·n(n−1)/2`, read back from device memory with
 * `copyFromDevice`. Prints a summary, the algorithm bandwidth, and PASS (exit 0) or the first wrong
 * element (exit 1).
 *
 * `--driver sim` (default): simulated chips; the host copies the inputs in and the chips' cores run a
 * reduce-scatter and an all-gather through remote views ([AllreduceProgram]). `--driver acl`: Ascend
 * chips through ACL/HCCL (a CANN install, or the emulator; docs/hardware.md); each chip fills its input
 * with a C kernel and sums with `HcclAllReduce` ([AllreduceDeviceProgram]).
 */
public object AllreduceSample : Sample {
    override val name: String = "allreduce"
    override val description: String =
        "N chips sum their buffers through a communication domain: remote views on sim, HcclAllReduce on acl (Strata's main job)"

    override fun run(args: List<String>, out: PrintStream): Int {
        val cli = AllreduceCli()
        cli.parseOrStatus(args, out)?.let { return it }
        return run(cli.options, cli.output(out))
    }

    /** Runs the allreduce with [o]; [tamper] may alter rank 0's result before the check (tests prove a wrong result is reported). */
    internal fun run(o: AllreduceOptions, out: PrintStream, tamper: (Tensor) -> Unit = {}): Int {
        if (o.hosts > 1) return AllreduceHosts.run(o, out, tamper)
        val n = o.chips
        val m = o.elements
        if (o.driver == ChipConfig.ACL) AllreduceKernelFiles.aclKernels() // fail before starting chips when the kernels are not built
        out.println(
            "allreduce: $n ${o.driver} chips (${if (o.isolation == Isolation.PROCESS) "child JVMs" else "threads"}), ${o.cores} cores each, " +
                "$m I32 elements (${fmtBytes(m * 4)} per rank)",
        )
        val started = System.nanoTime()
        val children = if (o.isolation == Isolation.PROCESS) "$n chip JVMs" else "$n chips"
        o.bars.counting("starting $children") { update -> open(o, StartProgress(update)) }.use { w ->
            val startupMs = (System.nanoTime() - started) / 1e6
            out.println(String.format(Locale.ROOT, "  start-up: %.0f ms (every chip ready, domain windows zeroed)", startupMs))
            val job = AllreduceJob(w, n, m, o.driver)
            val times = o.bars.steps("allreduce", o.iterations) { step -> DoubleArray(o.iterations) { job.iterate().also { step() } } }
            val results = job.readBack()
            tamper(results[0])
            job.lastRun?.let { out.println("  last ${it.summary()}") }
            return report(out, times, m, results, "every rank holds")
        }
    }

    /**
     * Prints the runs' times and bandwidth, then checks [ranks] (every rank's result, in rank order): PASS
     * with [claim] (exit 0) or the first wrong element (exit 1).
     */
    internal fun report(out: PrintStream, times: DoubleArray, m: Long, ranks: List<Tensor>, claim: String): Int {
        val best = times.min()
        val median = times.sorted()[times.size / 2]
        out.println(
            String.format(
                Locale.ROOT, "  runs: %d, median %.2f ms, best %.2f ms; algorithm bandwidth %.3f GB/s (best %.3f GB/s)",
                times.size, median * 1e3, best * 1e3, m * 4 / median / 1e9, m * 4 / best / 1e9,
            ),
        )
        val wrong = AllreduceJob.firstWrong(ranks, ranks.size)
        if (wrong != null) {
            out.println("FAIL: $wrong")
            return 1
        }
        out.println("PASS: $claim n·i + 100·n(n−1)/2 for all $m elements")
        return 0
    }

    /** The level-3 worker of the allreduce. */
    internal fun open(o: AllreduceOptions, progress: StartProgress? = null): Worker = worker(level = 3) {
        o.trace?.let { trace(it) }
        startProgress = progress
        chipIsolation = o.isolation
        chips(0 until o.chips) {
            cores("aiv", o.cores)
            driver = o.driver
        }
        System.getProperty("strata.samples.kernels")?.let { childJvmOptions += "-Dstrata.samples.kernels=$it" }
        domain(AllreduceProgram.DOMAIN, 0 until o.chips, windowBytes = (o.elements * 4 + 63) / 64 * 64) {
            buffer(AllreduceProgram.BUFFER, DType.I32, o.elements)
        }
    }

    /** The level-3 program: one group task over every chip, each rank's output and `data` buffer as parameters. */
    override fun graph(args: List<String>): TaskGraph {
        val o = AllreduceCli().also { it.parseOrThrow(args) }.options
        return TaskGraph.record("allreduce") {
            val outs = List(o.chips) { parameter("output#$it", DType.I32, o.elements) }
            val data = List(o.chips) { parameter("data#$it", DType.I32, o.elements) }
            submitGroup((0 until o.chips).map { chip(it) }, { r -> outputExisting(outs[r]); inout(data[r]); scalar(o.elements) }, "allreduce", AllreduceProgram)
        }
    }

    /** What [measure] found. Times in seconds; [correct] says whether every rank's result was right. */
    public class Measurement(public val startupMillis: Double, public val seconds: List<Double>, public val correct: Boolean)

    /**
     * Starts a worker with [chips] chips ([isolation]), runs the allreduce of [elements] I32 per rank
     * [warmup] times (and for at least [warmupMillis]) then [iterations] times, and checks the last
     * result: the benchmark's entry point. With [trace],
     * the worker writes a timeline of every run there when it closes.
     */
    public fun measure(
        chips: Int,
        elements: Long,
        iterations: Int,
        warmup: Int,
        isolation: Isolation,
        trace: Path? = null,
        warmupMillis: Long = 0,
    ): Measurement {
        val o = AllreduceOptions(chips, elements, iterations = iterations, isolation = isolation, trace = trace)
        val started = System.nanoTime()
        open(o).use { w ->
            val startup = (System.nanoTime() - started) / 1e6
            val job = AllreduceJob(w, chips, elements)
            // At least [warmup] runs and [warmupMillis] of them: every JVM's JIT (each chip JVM's own) reaches its steady state.
            val warmStart = System.nanoTime()
            var warmed = 0
            while (warmed < warmup || (System.nanoTime() - warmStart) / 1_000_000 < warmupMillis) {
                job.iterate()
                warmed++
            }
            val times = List(iterations) { job.iterate() }
            return Measurement(startup, times, AllreduceJob.firstWrong(job.readBack(), chips) == null)
        }
    }

    private fun fmtBytes(b: Long): String = if (b >= 1 shl 20) String.format(Locale.ROOT, "%.1f MiB", b / 1048576.0) else "$b B"
}

/** One allreduce set up on [w] (chips of [driver]): inputs, device outputs, the domain's buffers. */
internal class AllreduceJob(
    private val w: Worker,
    private val n: Int,
    private val m: Long,
    private val driver: String = ChipConfig.SIM,
    /** Global rank of this worker's chip 0 (several hosts: `host · chips`). */
    private val rankOffset: Int = 0,
) {
    /** Number of chips. */
    val chips: Int get() = n

    private val inputs = List(n) { r -> w.hostTensor(DType.I32, m, label = "input#$r").also { t -> for (i in 0 until m) t.setInt(i, (i + 100 * (rankOffset + r)).toInt()) } }
    private val outputs = List(n) { r -> w.deviceTensor(r, DType.I32, m, label = "output#$r") }
    private val data = List(n) { r -> w.chipContext(r).domain(AllreduceProgram.DOMAIN).buffer(AllreduceProgram.BUFFER) }

    /**
     * Runs the allreduce once; returns its seconds. Under `sim` the inputs are copied in first (untimed);
     * under `acl` each chip's kernel writes its input (timed with the collective).
     */
    fun iterate(): Double {
        val device = driver != ChipConfig.SIM
        if (!device) for (r in 0 until n) w.copyToDevice(data[r], inputs[r])
        val program = if (device) AllreduceDeviceProgram else AllreduceProgram
        val (seconds, stats) = w.timedRun {
            submitGroup((0 until n).map { chip(it) }, { r -> outputExisting(outputs[r]); inout(data[r]); scalar(m); scalar(rankOffset.toLong()) }, "allreduce", program)
        }
        lastRun = stats
        return seconds
    }

    /** The statistics of the last run of [iterate], or null before the first. */
    var lastRun: RunStats? = null
        private set

    /** Every rank's output, copied back to the host. */
    fun readBack(): List<Tensor> = List(n) { readBack(it) }

    /** Rank [r]'s output, copied back to the host. */
    fun readBack(r: Int): Tensor = w.hostTensor(DType.I32, m, label = "result#$r").also { w.copyFromDevice(it, outputs[r]) }

    /** Overwrites rank [r]'s device output with [host] (the hosts' total, broadcast back). */
    fun writeOutput(r: Int, host: Tensor) = w.copyToDevice(outputs[r], host)

    companion object {
        /** The first element of [results] that is not `n·i + 100·n(n−1)/2`, described; null if all are right. */
        fun firstWrong(results: List<Tensor>, n: Int): String? {
            val offset = 100L * n * (n - 1) / 2
            for ((r, t) in results.withIndex()) {
                for (i in 0 until t.elementCount) {
                    val want = (n * i + offset).toInt()
                    val got = t.getInt(i)
                    if (got != want) return "rank $r element $i is $got, expected $want (= $n·$i + $offset)"
                }
            }
            return null
        }
    }
}

/** Command-line options of the allreduce sample. */
internal data class AllreduceOptions(
    val chips: Int = 4,
    val elements: Long = 1L shl 20,
    val cores: Int = 2,
    val iterations: Int = 5,
    val isolation: Isolation = Isolation.PROCESS,
    val driver: String = ChipConfig.SIM,
    /** Hosts (node JVMs) for the hierarchical allreduce; 1 = this JVM's level-3 worker only. */
    val hosts: Int = 1,
    /** Where to write a timeline of the runs (`--trace`), or null. */
    val trace: Path? = null,
    /** A progress bar over the iterations, on an interactive terminal (not part of the configuration). */
    val bars: Progress = Progress.NONE,
)

/** The allreduce sample's command line (`strata run allreduce --help`). */
internal class AllreduceCli : LaunchOptions("strata run allreduce", AllreduceSample.description) {
    private val driver by option("--driver", help = "chip driver: sim (default) or acl").choice(ChipConfig.SIM, ChipConfig.ACL).default(ChipConfig.SIM)
    private val chips by option("--chips", help = "chips, 2..16 (per host with --hosts; default 4)").int().restrictTo(2..16).default(4)
    private val hosts by option("--hosts", help = "H node JVMs on loopback under a level-4 worker, 2..4 (default: none)")
        .int().restrictTo(2..4)
    private val elements by option("--elements", help = "I32 elements per rank (default 1048576)").int().restrictTo(1..(64 shl 20)).default(1 shl 20)
    private val cores by option("--cores", help = "cores per chip, 1..16 (default 2)").int().restrictTo(1..16).default(2)
    private val iterations by option("--iterations", help = "measured runs, 1..1000 (default 5)").int().restrictTo(1..1000).default(5)
    private val isolation by option("--isolation", help = "where chips run: process (child JVMs, default) or thread")
        .choice("process" to Isolation.PROCESS, "thread" to Isolation.THREAD).default(Isolation.PROCESS)

    override fun run() {
        if (elements < chips) throw UsageError("--elements must be at least --chips ($chips), was $elements")
    }

    /** The parsed options. */
    val options: AllreduceOptions
        get() = AllreduceOptions(chips, elements.toLong(), cores, iterations, isolation, driver, hosts ?: 1, trace, bars)
}

/** Runs [program] on this worker and waits for it; returns its wall seconds (build and execution) and its statistics. */
internal fun Worker.timedRun(program: suspend Orchestrator.() -> Unit): Pair<Double, RunStats> {
    val t0 = System.nanoTime()
    val run = submit(program)
    run.result()
    return (System.nanoTime() - t0) / 1e9 to run.stats
}
