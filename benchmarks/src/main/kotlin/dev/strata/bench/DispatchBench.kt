package dev.strata.bench

import dev.strata.bench.DispatchWorkloads.Kind
import com.github.ajalt.clikt.parameters.options.check
import com.github.ajalt.clikt.parameters.options.default
import com.github.ajalt.clikt.parameters.options.option
import com.github.ajalt.clikt.parameters.options.split
import com.github.ajalt.clikt.parameters.types.int
import com.github.ajalt.clikt.parameters.types.long
import com.github.ajalt.clikt.parameters.types.restrictTo
import dev.strata.samples.Progress
import java.io.PrintStream
import java.nio.file.Path
import java.time.Instant
import java.time.temporal.ChronoUnit
import java.util.Locale

/**
 * `./strata bench dispatch`: the in-process dispatch costs of DESIGN.md §10 — the latency of
 * `worker.run {}` with one no-op sub task, and the task throughput of independent tasks, of a chain
 * (each task INOUT on one tensor) and of a two-deep dependency pattern (each task reads the outputs of
 * the two before it). Prints one JSON line; progress goes to stderr.
 *
 * Fields: `run_1task_us` (p50, plus `_p90_us`, `_p99_us`, `_min_us`, `_mean_us`); `tasks_per_s_<workload>`
 * end to end (pipelined runs of 10k tasks, median of the rounds); `submit_ns_<workload>` (orchestrator
 * cost per submit, timed while every sub worker is held by a gate task, so nothing executes) and
 * `exec_tasks_per_s_<workload>` (the same tasks executed once the gate opens: scheduler, dispatch and
 * completion only). Workloads: `independent_noargs`, `independent` (each task writes its own 1-byte
 * buffer), `independent_slices` (each task writes its own 1-byte slice of ONE buffer: the tiling
 * pattern, which stresses dependency inference; fewer tasks per round), `chain`, `deps2`, and
 * `graph_replay_tasks_per_s`: the deps2 DAG recorded once as a `TaskGraph` over one parameter and
 * replayed with the parameter bound each run (no inference, no per-task validation; goal >= 3x deps2).
 *
 * Options: `--workers N` sub workers (default 4), `--quick` (few iterations: for tests, not numbers),
 * `--warmup-ms N` how long each workload (one-task runs too) runs right before it is timed (default 2000: the JIT keeps recompiling the build and hand-off
 * paths for a second or two, and rounds timed earlier measure that, not the engine),
 * `--rounds N` throughput rounds (median reported), `--tasks N` tasks per throughput round,
 * `--spin-us N` the workers' idle spin (default: `WorkerConfig`'s), `--only W[,W…]` measure only some
 * workloads (`latency` or the names above; handy under a profiler): the JSON line then carries only
 * the fields measured.
 */
public object DispatchBench : Bench {
    override val name: String = "dispatch"
    override val description: String =
        "in-process dispatch: one-task run latency (p50/p90/p99), independent, chain and deps2 tasks/s"

    private class Options(
        val workers: Int,
        val quick: Boolean,
        val warmupRuns: Int,
        val warmupMillis: Long,
        val latencyRuns: Int,
        val rounds: Int,
        val tasksPerRound: Int,
        val spinMicros: Long,
        val only: Set<String>,
        val trace: Path?,
        val bars: Progress,
    ) {
        fun wants(w: String) = w in only
    }

    /** One throughput workload: its JSON name, how to run n tasks, its gated split kind, a cap on tasks per round. */
    private class Workload(
        val label: String,
        val body: (Int) -> Int,
        val kind: Kind?,
        val maxTasksPerRound: Int = Int.MAX_VALUE,
    )

    /** The command line: `--workers`, `--quick`, `--rounds`, `--tasks`, `--warmup-ms`, `--spin-us`, `--only`. */
    private class Cli : BenchOptions("dispatch", description) {
        val workers: Int by option("--workers", help = "sub workers (default 4)").int().restrictTo(min = 1).default(4)
        val rounds: Int? by option("--rounds", help = "measured rounds per throughput workload (default 5; 1 with --quick)").int().restrictTo(min = 1)
        val tasks: Int? by option("--tasks", help = "tasks per round (default 200000; 5000 with --quick)").int().restrictTo(min = 1)
        val warmupMs: Long? by option("--warmup-ms", help = "warm-up time before measuring (default 2000; 0 with --quick)").long().restrictTo(min = 0)
        val spinUs: Long by option("--spin-us", help = "the workers' spin before they park, in µs (default: the worker's own)").long().restrictTo(min = -1).default(-1)
        val only: List<String> by option("--only", metavar = "W,…", help = "workloads to run, of ${WORKLOADS.joinToString(",")} (default all)")
            .split(",").default(WORKLOADS.toList())
            .check({ "takes some of ${WORKLOADS.joinToString(",")}, was ${it.joinToString(",")}" }) { l -> l.isNotEmpty() && l.all { it in WORKLOADS } }

        fun options() = Options(
            workers = workers,
            quick = quick,
            warmupRuns = if (quick) 500 else 20_000,
            warmupMillis = warmupMs ?: if (quick) 0 else 2_000,
            latencyRuns = if (quick) 500 else 20_000,
            rounds = rounds ?: if (quick) 1 else 5,
            tasksPerRound = tasks ?: if (quick) 5_000 else 200_000,
            spinMicros = spinUs,
            only = only.toSet(),
            trace = trace,
            bars = bars,
        )
    }

    override fun run(args: List<String>, out: PrintStream): Int {
        val cli = Cli()
        cli.parseOrStatus(args, out)?.let { return it }
        val o = cli.options()
        val err = cli.progress
        DispatchWorkloads(o.workers, spinMicros = o.spinMicros, trace = o.trace).use { w ->
            err.println(
                "dispatch: ${o.workers} sub workers, spin ${w.spin}, ${Runtime.getRuntime().availableProcessors()} cores, " +
                    "${if (o.quick) "quick" else "full"} mode",
            )
            val workloads = listOf(
                Workload("independent_noargs", w::independentNoArgs, Kind.INDEPENDENT_NOARGS),
                Workload("independent", w::independent, Kind.INDEPENDENT),
                // Dependency inference scans every live view of a buffer: keep this one short.
                Workload("independent_slices", w::independentSlices, Kind.INDEPENDENT_SLICES, if (o.quick) 2_000 else 20_000),
                Workload("chain", w::chain, Kind.CHAIN),
                Workload("deps2", w::deps2, Kind.DEPS2),
                Workload("graph_replay", w::graphReplay, null),
            ).filter { o.wants(it.label) }
            fun Workload.tasks(n: Int) = minOf(n, maxTasksPerRound)

            // --- warm-up: every measured path, so the JIT has seen each before anything is timed ---
            if (o.wants("latency")) {
                err.println("dispatch: warm-up, ${o.warmupRuns} one-task runs")
                repeat(o.warmupRuns) { w.runOneTask() }
            }
            val warmTasks = if (o.quick) 2_000 else 50_000
            val splitTasks = minOf(if (o.quick) 2_000 else 9_000, w.batch - o.workers)
            for (wl in workloads) {
                err.println("dispatch: warm-up, ${wl.tasks(warmTasks)} ${wl.label} tasks")
                wl.body(wl.tasks(warmTasks))
                wl.kind?.let { k -> repeat(if (o.quick) 1 else 3) { w.split(k, wl.tasks(splitTasks)) } }
            }

            // --- one-task run latency -------------------------------------------------------------
            val latencies = Latencies()
            if (o.wants("latency")) {
                // Warmed up again right before it is timed, for a time, not a count of runs: the other workloads'
                // warm-ups above leave the JIT compiling for a second or two, and runs timed meanwhile measure that.
                if (o.warmupMillis > 0) err.println("dispatch: warm-up, one-task runs for ${o.warmupMillis} ms")
                warmUp(o.warmupMillis) { w.runOneTask() }
                err.println("dispatch: timing ${o.latencyRuns} one-task runs")
                repeat(o.latencyRuns) {
                    val t0 = System.nanoTime()
                    w.runOneTask()
                    latencies.record(System.nanoTime() - t0)
                }
            }

            // --- throughput, end to end, then split into build and execution --------------------
            val fields = linkedMapOf<String, Any>("bench" to name)
            if (latencies.count > 0) {
                fields["run_1task_us"] = us(latencies.percentile(0.50))
                fields["run_1task_p90_us"] = us(latencies.percentile(0.90))
                fields["run_1task_p99_us"] = us(latencies.percentile(0.99))
                fields["run_1task_min_us"] = us(latencies.min)
                fields["run_1task_mean_us"] = us(latencies.mean.toLong())
                fields["run_1task_samples"] = latencies.count
            }
            for (wl in workloads) {
                val n = wl.tasks(o.tasksPerRound)
                // Each workload's rounds follow its own warm-up: what ran in between must not be what is timed.
                if (o.warmupMillis > 0) err.println("dispatch: warm-up, ${wl.label} for ${o.warmupMillis} ms")
                warmUp(o.warmupMillis) { wl.body(n) }
                val rates = o.bars.steps("dispatch: ${wl.label}", o.rounds) { step ->
                    DoubleArray(o.rounds) {
                        val t0 = System.nanoTime()
                        val done = wl.body(n)
                        (done * 1e9 / (System.nanoTime() - t0)).also { step() }
                    }
                }
                err.println("dispatch: ${wl.label} ${rates.joinToString { fmt(it, 0) }} tasks/s ($n tasks per round)")
                fields[if (wl.kind == null) "${wl.label}_tasks_per_s" else "tasks_per_s_${wl.label}"] = median(rates).toLong()
            }
            for (wl in workloads) {
                if (wl.kind == null) continue
                val n = wl.tasks(splitTasks)
                val parts = List(o.rounds) { w.split(wl.kind!!, n) }
                val submitNs = median(DoubleArray(parts.size) { parts[it][0].toDouble() / n })
                val execRate = median(DoubleArray(parts.size) { n * 1e9 / parts[it][1] })
                err.println("dispatch: ${wl.label} split: submit ${fmt(submitNs, 0)} ns/task, execute ${fmt(execRate, 0)} tasks/s")
                fields["submit_ns_${wl.label}"] = Math.round(submitNs)
                fields["exec_tasks_per_s_${wl.label}"] = execRate.toLong()
            }
            fields += linkedMapOf<String, Any>(
                "tasks_per_round" to o.tasksPerRound,
                "rounds" to o.rounds,
                "batch" to w.batch,
                "workers" to o.workers,
                "spin_us" to w.spin.inWholeMicroseconds,
                "warmup_ms" to o.warmupMillis,
                "quick" to o.quick,
                "jdk" to System.getProperty("java.version"),
                "cores" to Runtime.getRuntime().availableProcessors(),
                "date" to Instant.now().truncatedTo(ChronoUnit.SECONDS).toString(),
            )
            out.println(json(fields))
            out.flush()
        }
        return 0
    }

    private val WORKLOADS = linkedSetOf("latency", "independent_noargs", "independent", "independent_slices", "chain", "deps2", "graph_replay")


    private fun median(xs: DoubleArray): Double {
        val s = xs.sorted()
        return if (s.size % 2 == 1) s[s.size / 2] else (s[s.size / 2 - 1] + s[s.size / 2]) / 2
    }

    private fun us(nanos: Long): Double = Math.round(nanos / 10.0) / 100.0 // µs with 2 decimals

    private fun fmt(x: Double, decimals: Int): String = String.format(Locale.ROOT, "%.${decimals}f", x)
}
