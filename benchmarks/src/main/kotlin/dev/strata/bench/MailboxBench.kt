package dev.strata.bench

import dev.strata.mailbox.Mailbox
import dev.strata.mailbox.MailboxLayout
import dev.strata.mailbox.MailboxParking
import dev.strata.mailbox.MailboxSide
import dev.strata.mailbox.MailboxState
import dev.strata.shm.SharedMemoryFile
import java.io.PrintStream
import java.lang.foreign.MemorySegment
import java.lang.foreign.ValueLayout
import java.lang.invoke.VarHandle
import java.nio.file.Path
import java.nio.file.Paths
import java.time.Instant
import java.time.temporal.ChronoUnit
import java.util.Locale
import java.util.concurrent.TimeUnit

/**
 * `./strata bench mailbox`: cross-process round trips through a /dev/shm mailbox with a child JVM
 * (DESIGN.md §7, §10). Prints one JSON line:
 * `rtt_raw_spin_ns` (p50, bare VarHandle acquire/release ping-pong on the mapped segment: the floor),
 * `rtt_spin_ns` (p50, the same through the Mailbox API with both sides spinning: goal <= 2x the floor),
 * `rtt_parked_us` (p50, both sides parked on the futex between messages).
 * `run_1task_process_us` (p50 `run()` of one no-op task on a child-JVM sub worker: goal <= 10),
 * `startup_ms_8_children` (a worker with 8 child JVMs, all reported ready: goal <= 1000; median of 3),
 * `idle_cpu_pct` (CPU of this JVM plus 8 idle children over 5 s, percent of one core: goal <= 1).
 */
public object MailboxBench : Bench {
    override val name: String = "mailbox"
    override val description: String = "cross-process mailbox round trips: raw spin floor, Mailbox API spin, parked (futex)"

    private const val SECOND = 1_000_000_000L

    override fun run(args: List<String>, out: PrintStream): Int {
        val options = BenchOptions(name, description, tracesRuns = false)
        options.parseOrStatus(args, out)?.let { return it }
        val quick = options.quick
        val spinRounds = if (quick) 2_000 else 200_000
        val parkedRounds = if (quick) 200 else 20_000
        val raw = measure(options.progress, "raw", spinRounds)
        val spin = measure(options.progress, "spin", spinRounds)
        val parked = measure(options.progress, "parked", parkedRounds)
        val oneTask = ChildWorkerBench.runOneTask(options.progress, if (quick) 200 else 5_000, if (quick) 500 else 20_000)
        val (startups, idlePct) = ChildWorkerBench.startupAndIdle(options.progress, if (quick) 1 else 3, if (quick) 2 else 5)
        val fields = linkedMapOf<String, Any>(
            "bench" to "mailbox",
            "rtt_raw_spin_ns" to raw.p50,
            "rtt_spin_ns" to spin.p50,
            "rtt_spin_ratio" to String.format(Locale.ROOT, "%.2f", spin.p50.toDouble() / raw.p50).toDouble(),
            "rtt_spin_p99_ns" to spin.p99,
            "rtt_parked_us" to String.format(Locale.ROOT, "%.2f", parked.p50 / 1000.0).toDouble(),
            "rtt_parked_p99_us" to String.format(Locale.ROOT, "%.2f", parked.p99 / 1000.0).toDouble(),
            "run_1task_process_us" to String.format(Locale.ROOT, "%.2f", oneTask[0] / 1000.0).toDouble(),
            "run_1task_process_p99_us" to String.format(Locale.ROOT, "%.2f", oneTask[1] / 1000.0).toDouble(),
            "run_1task_process_min_us" to String.format(Locale.ROOT, "%.2f", oneTask[2] / 1000.0).toDouble(),
            "startup_ms_8_children" to startups.sorted()[startups.size / 2],
            "startup_ms_8_children_all" to startups.joinToString("/"),
            "idle_cpu_pct" to String.format(Locale.ROOT, "%.3f", idlePct).toDouble(),
            "rounds_spin" to spinRounds,
            "rounds_parked" to parkedRounds,
            "quick" to quick,
            "jdk" to Runtime.version().toString().substringBefore('+'),
            "cores" to Runtime.getRuntime().availableProcessors(),
            "date" to Instant.now().truncatedTo(ChronoUnit.SECONDS).toString(),
        )
        out.println(json(fields))
        return 0
    }

    private class Stats(val p50: Long, val p99: Long)

    /** Runs one mode against a fresh child JVM; returns round-trip percentiles in nanoseconds. */
    private fun measure(progress: PrintStream, mode: String, rounds: Int): Stats {
        progress.println("mailbox: $mode, $rounds round trips…")
        val file = SharedMemoryFile.create(MailboxLayout.totalSize(256, MailboxLayout.MIN_ERROR_CAPACITY), "bench")
        var child: Process? = null
        try {
            val m = Mailbox.create(file.path.toString(), file.segment, 256, MailboxLayout.MIN_ERROR_CAPACITY)
            val java = Path.of(System.getProperty("java.home"), "bin", "java").toString()
            child = ProcessBuilder(
                java, "--enable-native-access=ALL-UNNAMED", "-cp", System.getProperty("java.class.path"),
                MailboxBenchChild::class.java.name, file.path.toString(), mode, rounds.toString(),
            ).redirectErrorStream(true).redirectOutput(ProcessBuilder.Redirect.INHERIT).start()
            val lat = LongArray(rounds)
            MailboxParking(m, MailboxSide.PARENT).use { p ->
                check(p.awaitChange(MailboxState.IDLE, 0, 30 * SECOND) == MailboxState.INIT_READY) { "the child did not start" }
                val seg = file.segment
                when (mode) {
                    "raw" -> for (r in 0 until rounds) {
                        val ask = 2 * r + 1
                        val t0 = System.nanoTime()
                        INT.setRelease(seg, RAW_WORD, ask)
                        while ((INT.getAcquire(seg, RAW_WORD) as Int) != ask + 1) Thread.onSpinWait()
                        lat[r] = System.nanoTime() - t0
                    }
                    else -> {
                        val spin = if (mode == "spin") 10 * SECOND else 0L
                        for (r in 0 until rounds) {
                            val t0 = System.nanoTime()
                            p.publish(MailboxState.TASK_READY)
                            var s = MailboxState.TASK_READY
                            while (s == MailboxState.TASK_READY) s = p.awaitChange(s, spin, 10 * SECOND)
                            lat[r] = System.nanoTime() - t0
                            check(s == MailboxState.TASK_DONE) { "unexpected state $s" }
                            p.publish(MailboxState.IDLE)
                        }
                    }
                }
                p.publish(MailboxState.SHUTDOWN)
            }
            child.waitFor(30, TimeUnit.SECONDS)
            val warm = Latencies.of(lat.copyOfRange(rounds / 10, rounds)) // the first tenth warms up
            return Stats(warm.percentile(0.50), warm.percentile(0.99))
        } finally {
            child?.let { if (it.isAlive) it.destroyForcibly().waitFor(10, TimeUnit.SECONDS) }
            file.close()
        }
    }

    internal val INT: VarHandle = ValueLayout.JAVA_INT.varHandle()

    /** The raw ping-pong uses the first word of the args region, outside the protocol's own fields. */
    internal const val RAW_WORD: Long = MailboxLayout.ARGS_OFFSET
}

/** The child side of [MailboxBench]: `<mailbox path> <raw|spin|parked> <rounds>`. */
public object MailboxBenchChild {
    @JvmStatic
    public fun main(args: Array<String>) {
        val mode = args[1]
        val rounds = args[2].toInt()
        SharedMemoryFile.open(Paths.get(args[0])).use { file ->
            val m = Mailbox.open(args[0], file.segment)
            MailboxParking(m, MailboxSide.CHILD).use { c ->
                m.childPid = ProcessHandle.current().pid().toInt()
                c.publish(MailboxState.INIT_READY)
                val seg: MemorySegment = file.segment
                if (mode == "raw") {
                    for (r in 0 until rounds) {
                        val ask = 2 * r + 1
                        while ((MailboxBench.INT.getAcquire(seg, MailboxBench.RAW_WORD) as Int) != ask) Thread.onSpinWait()
                        MailboxBench.INT.setRelease(seg, MailboxBench.RAW_WORD, ask + 1)
                    }
                    return
                }
                val spin = if (mode == "spin") 10_000_000_000L else 0L
                while (true) {
                    var s = m.state()
                    while (s != MailboxState.TASK_READY && s != MailboxState.SHUTDOWN) s = c.awaitChange(s, spin, 60_000_000_000L)
                    if (s == MailboxState.SHUTDOWN) return
                    c.publish(MailboxState.TASK_DONE)
                }
            }
        }
    }
}
