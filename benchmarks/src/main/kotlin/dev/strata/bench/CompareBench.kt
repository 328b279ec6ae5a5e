package dev.strata.bench

import com.github.ajalt.clikt.parameters.options.default
import com.github.ajalt.clikt.parameters.options.flag
import com.github.ajalt.clikt.parameters.options.option
import com.github.ajalt.clikt.parameters.types.int
import com.github.ajalt.clikt.parameters.types.long
import com.github.ajalt.clikt.parameters.types.restrictTo
import dev.strata.task.TaskArgs
import dev.strata.task.Target
import dev.strata.worker.Isolation
import dev.strata.worker.Worker
import dev.strata.worker.WorkerConfig
import java.io.PrintStream
import java.util.Locale
import java.util.concurrent.CompletableFuture
import java.util.concurrent.CountDownLatch
import java.util.concurrent.Executors
import java.util.concurrent.ThreadPoolExecutor
import java.util.concurrent.TimeUnit

/**
 * `./strata bench compare` (issue 17, goal 5): Strata beside the peers this machine has, in one sitting,
 * so that the side-by-side table of docs/performance.md can be reproduced. Each round measures, back to
 * back:
 *
 * - Strata: a one-task `run()` on 4 sub threads (p50), the same to a child JVM (p50), a chain of tasks
 *   (each INOUT on one tensor) and independent tasks (each its own 1-byte tensor), tasks/s end to end;
 * - the JVM floor: a one-task hand-off to a 4-thread `ThreadPoolExecutor` and back (p50), a spinning
 *   hand-off between two threads (p50), a chain of `CompletableFuture.thenRunAsync` on that pool and
 *   independent no-op `Runnable`s on it, tasks/s;
 * - Dask (threaded scheduler), when a Python here can import `dask` (Debian: `apt-get install python3-dask`):
 *   one `delayed` task computed (p50), a chain and independent tasks, tasks/s; otherwise the line says why
 *   it was left out.
 *
 * Every path is warmed up first, by count and then for `--warmup-ms` (default 2 s; a fresh child JVM per
 * round gets as long): the JIT needs seconds to compile a whole path.
 *
 * One JSON line per round, then a `summary` line with the median of each figure and the ratios
 * (`ratio_*`: Strata's figure over the peer's, so < 1 is better for latencies and > 1 for rates).
 */
public object CompareBench : Bench {
    override val name: String = "compare"
    override val description: String = "Strata beside the JVM floor (and Dask, when installed), same sitting, with ratios"

    private class Options : BenchOptions("compare", description, tracesRuns = false) {
        val rounds: Int by option("--rounds", help = "rounds, each measuring every figure (default 3)").int().restrictTo(1..20).default(3)
        val warmupMs: Long? by option("--warmup-ms", help = "warm-up time of each Strata and floor path before the rounds, and of each round's child JVM (default 2000; 0 with --quick)").long().restrictTo(min = 0)
        val noDask: Boolean by option("--no-dask", help = "leave Dask out even when it is installed").flag()
    }

    override fun run(args: List<String>, out: PrintStream): Int {
        val o = Options()
        o.parseOrStatus(args, out)?.let { return it }
        val quick = o.quick
        val samples = if (quick) 300 else 20_000
        val tasks = if (quick) 2_000 else 100_000
        val warmupMs = o.warmupMs ?: if (quick) 0 else 2_000
        val err = o.progress
        val dask = if (o.noDask) "left out (--no-dask)" to null else Dask.probe()
        err.println("compare: ${o.rounds} round(s); Dask: ${dask.second?.let { "dask $it" } ?: dask.first}")
        val rounds = ArrayList<Map<String, Double>>()
        // Nothing else runs while a figure is measured: the child JVM's worker and the spinning partner exist only for their own figure.
        DispatchWorkloads(4).use { w ->
            Floor().use { floor ->
                // Warm-up: every path, by count and then by time (the JIT needs seconds to compile a whole path).
                warmUp(warmupMs, samples) { w.runOneTask() }
                warmUp(warmupMs, samples) { floor.tpeOneTask() }
                floor.spinning { repeat(samples) { floor.spinHandOff() } }
                warmUp(warmupMs, 1) { w.chain(tasks) }
                warmUp(warmupMs, 1) { w.independent(tasks) }
                floor.cfChain(tasks); floor.tpeIndependent(tasks)
                for (r in 1..o.rounds) {
                    err.println("compare: round $r of ${o.rounds}")
                    val f = linkedMapOf<String, Double>()
                    f["strata_run_1task_us"] = p50(samples) { w.runOneTask() }.let(::us)
                    f["strata_chain_tasks_per_s"] = rate(tasks) { w.chain(it) }
                    f["strata_independent_tasks_per_s"] = rate(tasks) { w.independent(it) }
                    f["strata_run_1task_process_us"] = ChildOneTask().use { child ->
                        warmUp(warmupMs, minOf(samples, 2_000)) { child.runOneTask() }
                        p50(minOf(samples, 5_000)) { child.runOneTask() }.let(::us)
                    }
                    f["floor_tpe_1task_us"] = p50(samples) { floor.tpeOneTask() }.let(::us)
                    f["floor_spin_handoff_us"] = floor.spinning { p50(samples) { floor.spinHandOff() }.let(::us) }
                    f["floor_cf_chain_tasks_per_s"] = rate(tasks) { floor.cfChain(it) }
                    f["floor_tpe_independent_tasks_per_s"] = rate(tasks) { floor.tpeIndependent(it) }
                    dask.second?.let { f.putAll(Dask.measure(quick)) }
                    rounds += f
                    out.println(json(linkedMapOf<String, Any>("bench" to name, "round" to r) + f.mapValues { (_, v) -> round(v) }))
                }
            }
        }
        val median = rounds.first().keys.associateWith { k -> rounds.map { it.getValue(k) }.sorted()[rounds.size / 2] }
        val summary = linkedMapOf<String, Any>("bench" to name, "summary" to "median of ${rounds.size} round(s)")
        median.forEach { (k, v) -> summary[k] = round(v) }
        fun ratio(key: String, a: String, b: String) {
            val x = median[a] ?: return
            val y = median[b] ?: return
            if (y > 0) summary[key] = round(x / y)
        }
        ratio("ratio_1task_to_tpe", "strata_run_1task_us", "floor_tpe_1task_us")
        ratio("ratio_1task_to_spin", "strata_run_1task_us", "floor_spin_handoff_us")
        ratio("ratio_chain_to_cf", "strata_chain_tasks_per_s", "floor_cf_chain_tasks_per_s")
        ratio("ratio_independent_to_tpe", "strata_independent_tasks_per_s", "floor_tpe_independent_tasks_per_s")
        ratio("ratio_1task_to_dask", "strata_run_1task_us", "dask_1task_us")
        ratio("ratio_chain_to_dask", "strata_chain_tasks_per_s", "dask_chain_tasks_per_s")
        ratio("ratio_independent_to_dask", "strata_independent_tasks_per_s", "dask_independent_tasks_per_s")
        if (dask.second == null) summary["dask"] = dask.first else summary["dask_version"] = dask.second!!
        summary["jdk"] = Runtime.version().toString()
        summary["cores"] = Runtime.getRuntime().availableProcessors()
        out.println(json(summary))
        return 0
    }

    private inline fun p50(count: Int, body: () -> Unit): Long {
        val l = Latencies()
        repeat(count) {
            val t0 = System.nanoTime()
            body()
            l.record(System.nanoTime() - t0)
        }
        return l.percentile(0.5)
    }

    private inline fun rate(tasks: Int, body: (Int) -> Unit): Double {
        val t0 = System.nanoTime()
        body(tasks)
        return tasks / ((System.nanoTime() - t0) / 1e9)
    }

    private fun us(nanos: Long): Double = nanos / 1e3

    private fun round(v: Double): Double = String.format(Locale.ROOT, if (v >= 1000) "%.0f" else "%.3f", v).toDouble()

    /** A worker with one sub worker in a child JVM, for the one-task run to a child process. */
    private class ChildOneTask : AutoCloseable {
        private val w = Worker(WorkerConfig(subWorkers = 1, subIsolation = Isolation.PROCESS, callables = listOf(NoOpTask)))

        fun runOneTask() = w.run { submit(Target.Sub, NoOpTask, TaskArgs.EMPTY, null) }

        override fun close() = w.close()
    }

    /** The plain-JVM floor: a 4-thread pool, and a spinning partner thread while [spinning] runs. */
    private class Floor : AutoCloseable {
        private val pool = Executors.newFixedThreadPool(4) as ThreadPoolExecutor
        private val noop = Runnable { }

        @Volatile
        private var ball = 0L

        @Volatile
        private var stop = false

        /** Runs [body] with a partner thread that answers [spinHandOff], spinning (it burns a core meanwhile). */
        fun <T> spinning(body: () -> T): T {
            stop = false
            val partner = Thread({
                // Only the caller makes the ball odd and only this thread makes it even again.
                while (!stop) {
                    val b = ball
                    if (b and 1L == 1L) ball = b + 1 else Thread.onSpinWait()
                }
            }, "compare-spin-partner").apply { isDaemon = true; start() }
            try {
                return body()
            } finally {
                stop = true
                partner.join(2_000)
            }
        }

        fun tpeOneTask() {
            pool.submit(noop).get()
        }

        /** An odd value handed to the partner, which answers with the next even one. */
        fun spinHandOff() {
            val sent = ball + 1 // odd: the partner answers with sent + 1
            ball = sent
            var n = 0
            while (ball == sent) {
                Thread.onSpinWait()
                if (++n and 0xFFFF == 0) check(!stop) { "the spinning partner is gone" }
            }
        }

        fun cfChain(n: Int) {
            var f: CompletableFuture<Void> = CompletableFuture.completedFuture(null)
            for (i in 0 until n) f = f.thenRunAsync(noop, pool)
            f.join()
        }

        fun tpeIndependent(n: Int) {
            val done = CountDownLatch(n)
            val task = Runnable { done.countDown() }
            repeat(n) { pool.execute(task) }
            done.await(60, TimeUnit.SECONDS)
        }

        override fun close() {
            pool.shutdownNow()
            pool.awaitTermination(5, TimeUnit.SECONDS)
        }
    }

    /**
     * Dask's threaded scheduler through Python, when it is installed: the first of `$STRATA_PYTHON`,
     * `python3` on the PATH and Debian's `/usr/bin/python3` that imports `dask`.
     */
    internal object Dask {
        private var python: String = "python3"

        /** (why it is left out, null) or ("", version). */
        fun probe(): Pair<String, String?> {
            val candidates = listOfNotNull(System.getenv("STRATA_PYTHON"), "python3", "/usr/bin/python3").distinct()
            for (c in candidates) {
                val r = python(c, "import dask; print(dask.__version__)", 30) ?: continue
                if (r.first == 0) {
                    python = c
                    return "" to "${r.second.trim()} ($c)"
                }
            }
            return "left out: no Python here imports dask (tried ${candidates.joinToString()}; Debian: apt-get install python3-dask)" to null
        }

        fun measure(quick: Boolean): Map<String, Double> {
            val samples = if (quick) 50 else 2_000
            val tasks = if (quick) 200 else 5_000
            val script = """
                |import time, statistics, dask
                |from dask import delayed
                |def noop(*a): return 0
                |for _ in range(50): delayed(noop)().compute(scheduler='threads')
                |lat = []
                |for _ in range($samples):
                |    t = time.perf_counter(); delayed(noop)().compute(scheduler='threads'); lat.append(time.perf_counter() - t)
                |x = delayed(noop)()
                |for _ in range($tasks - 1): x = delayed(noop)(x)
                |t = time.perf_counter(); x.compute(scheduler='threads'); chain = $tasks / (time.perf_counter() - t)
                |xs = [delayed(noop)(i) for i in range($tasks)]
                |t = time.perf_counter(); dask.compute(*xs, scheduler='threads'); ind = $tasks / (time.perf_counter() - t)
                |print(statistics.median(lat) * 1e6, chain, ind)
            """.trimMargin()
            val r = python(python, script, 600) ?: return emptyMap()
            check(r.first == 0) { "the Dask measurement failed (exit ${r.first}): ${r.second.takeLast(500)}" }
            val (lat, chain, ind) = r.second.trim().lines().last().split(' ').map { it.toDouble() }
            return linkedMapOf("dask_1task_us" to lat, "dask_chain_tasks_per_s" to chain, "dask_independent_tasks_per_s" to ind)
        }

        /** Runs [script] with [interpreter]; (exit code, output), or null when there is no such program. Bounded by [timeoutSeconds]. */
        private fun python(interpreter: String, script: String, timeoutSeconds: Long): Pair<Int, String>? {
            val p = try {
                ProcessBuilder(interpreter, "-c", script).redirectErrorStream(true).start()
            } catch (_: java.io.IOException) {
                return null
            }
            val output = StringBuilder()
            val reader = Thread { output.append(p.inputStream.bufferedReader().readText()) }.apply { isDaemon = true; start() }
            if (!p.waitFor(timeoutSeconds, TimeUnit.SECONDS)) {
                p.destroyForcibly().waitFor(5, TimeUnit.SECONDS)
                return 124 to "python3 did not finish within $timeoutSeconds s"
            }
            reader.join(5_000)
            return p.exitValue() to output.toString()
        }
    }
}
