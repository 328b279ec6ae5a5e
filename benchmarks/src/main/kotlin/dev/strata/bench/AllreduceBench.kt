package dev.strata.bench

import dev.strata.samples.AllreduceSample
import dev.strata.worker.Isolation
import com.github.ajalt.clikt.parameters.options.check
import com.github.ajalt.clikt.parameters.options.default
import com.github.ajalt.clikt.parameters.options.option
import com.github.ajalt.clikt.parameters.options.split
import com.github.ajalt.clikt.parameters.types.choice
import com.github.ajalt.clikt.parameters.types.int
import com.github.ajalt.clikt.parameters.types.long
import com.github.ajalt.clikt.parameters.types.restrictTo
import java.io.PrintStream
import java.lang.foreign.Arena
import java.lang.foreign.MemorySegment
import java.util.Locale

/**
 * `./strata bench allreduce`: the allreduce sample on 4 and 16 simulated chips (child JVMs by default).
 * One JSON line per configuration:
 * `chips`, `bytes_per_rank`, `gbps` (algorithm bandwidth, bytes per rank / median run time),
 * `gbps_best`, `run_ms` (the median), `plain_ms` and `plain_threads` (the same reduce-scatter and
 * all-gather over the same layout done by plain threads with no runtime, [PlainAllreduce], measured in
 * the same invocation: the faster of one thread per rank and one per CPU), `allreduce_efficiency`
 * (`plain_ms / run_ms`; issue 17's goal: >= 0.8 with 4 chips, >= 0.5 with 16), `memcpy_gbps` (one
 * thread copying `bytes_per_rank`, best of 20: information only — the allreduce moves about 3·n times the
 * bytes of a rank through memory, so no allreduce approaches it), `startup_ms` (a worker with every
 * chip ready and the domain up; goal <= 3000 for 16 chips) and `warmup_ms` (Strata ran at least 10
 * allreduces and this long before the measured ones: `--warmup-ms`).
 */
public object AllreduceBench : Bench {
    override val name: String = "allreduce"
    override val description: String = "N-chip allreduce through a communication domain: algorithm bandwidth vs memcpy, start-up"

    private class Options : BenchOptions("allreduce", description) {
        val chips: List<Int> by option("--chips", metavar = "N,M…", help = "chip counts to measure, each 2..16 (default 4,16)")
            .int().split(",").default(listOf(4, 16))
            .check({ "chip counts are 2..16, was $it" }) { l -> l.isNotEmpty() && l.all { it in 2..16 } }
        val elements: Long by option("--elements", help = "I32 elements per rank, >= 16 (default 1048576)").long().restrictTo(min = 16).default(1L shl 20)
        val iterations: Int by option("--iterations", help = "measured runs per configuration (default 20)").int().restrictTo(min = 1).default(20)
        val warmupMs: Long? by option("--warmup-ms", help = "warm-up of Strata's runs before measuring (default 10000; 0 with --quick); the plain threads get up to 2000")
            .long().restrictTo(min = 0)
        val isolation: Isolation by option("--isolation", help = "where chips run: process (child JVMs, default) or thread")
            .choice("process" to Isolation.PROCESS, "thread" to Isolation.THREAD).default(Isolation.PROCESS)
    }

    override fun run(args: List<String>, out: PrintStream): Int {
        val o = Options()
        o.parseOrStatus(args, out)?.let { return it }
        val quick = o.quick
        val chips = o.chips
        var elements = o.elements
        var iterations = o.iterations
        val isolation = o.isolation
        if (quick) {
            elements = minOf(elements, 1L shl 14)
            iterations = minOf(iterations, 2)
        }
        // Chip JVMs reach their steady state only after seconds of JIT work on this 2-core VM (docs/performance.md, issue 17).
        val warmupMs = o.warmupMs ?: if (quick) 0 else 10_000
        val bytes = elements * 4
        val memcpy = memcpyGbps(bytes, if (quick) 3 else 20)
        for (n in chips) {
            o.progress.println("allreduce: $n chips ($isolation), $bytes B per rank, $warmupMs ms of warm-up + $iterations runs…")
            val m = AllreduceSample.measure(n, elements, iterations, if (quick) 1 else 10, isolation, o.traceFor("${n}chips", chips.size), warmupMs)
            if (!m.correct) {
                o.progress.println("allreduce: $n chips produced a wrong result")
                return 1
            }
            val median = m.seconds.sorted()[m.seconds.size / 2]
            val gbps = bytes / median / 1e9
            o.progress.println("allreduce: the same collective on plain threads, $n ranks…")
            val (plain, plainThreads) = PlainAllreduce.best(n, elements, if (quick) 1 else 10, iterations, minOf(warmupMs, 2_000))
            val fields = linkedMapOf<String, Any>(
                "bench" to "allreduce", "chips" to n, "isolation" to isolation.name.lowercase(), "bytes_per_rank" to bytes,
                "gbps" to fmt(gbps), "gbps_best" to fmt(bytes / m.seconds.min() / 1e9), "run_ms" to fmt(median * 1e3),
                "plain_ms" to fmt(plain * 1e3), "plain_threads" to plainThreads, "allreduce_efficiency" to fmt(plain / median),
                "memcpy_gbps" to fmt(memcpy), "startup_ms" to fmt(m.startupMillis), "warmup_ms" to warmupMs,
            )
            out.println(json(fields))
        }
        return 0
    }

    /** Single-thread copy bandwidth of [bytes] between two native buffers: bytes / best time, in GB/s. */
    internal fun memcpyGbps(bytes: Long, rounds: Int): Double = Arena.ofConfined().use { a ->
        val src = a.allocate(bytes, 64).fill(1)
        val dst = a.allocate(bytes, 64)
        var best = Long.MAX_VALUE
        repeat(rounds + 2) {
            val t0 = System.nanoTime()
            MemorySegment.copy(src, 0, dst, 0, bytes)
            best = minOf(best, System.nanoTime() - t0)
        }
        bytes / (best / 1e9) / 1e9
    }

    private fun fmt(v: Double): Double = String.format(Locale.ROOT, "%.3f", v).toDouble()
}
