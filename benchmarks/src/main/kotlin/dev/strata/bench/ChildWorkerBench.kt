package dev.strata.bench

import java.io.PrintStream
import dev.strata.task.TaskArgs
import dev.strata.task.TaskCallable
import dev.strata.task.TaskContext
import dev.strata.task.Target
import dev.strata.worker.Isolation
import dev.strata.worker.Worker
import dev.strata.worker.WorkerConfig
import java.time.Duration

/** The no-op task of the child-worker figures (an `object`: child JVMs find it by name). */
public object NoOpTask : TaskCallable {
    override fun call(context: TaskContext): Unit = Unit
}

/**
 * Child-worker figures of `./strata bench mailbox` (issue 3 §7): one-task runs on a child JVM, the
 * start-up of 8 children, and the CPU that the parent plus 8 idle children use.
 */
internal object ChildWorkerBench {
    /** p50 / p99 / min of `run()` of one no-op task on a process-isolated sub worker, in nanoseconds. */
    fun runOneTask(progress: PrintStream, warmup: Int, samples: Int): LongArray {
        Worker(WorkerConfig(level = 3, subWorkers = 1, subIsolation = Isolation.PROCESS, callables = listOf(NoOpTask))).use { w ->
            progress.println("mailbox: run_1task_process, $warmup warm-up + $samples runs…")
            repeat(warmup) { w.run { submit(Target.Sub, NoOpTask, TaskArgs.EMPTY) } }
            val t = LongArray(samples)
            for (i in 0 until samples) {
                val s = System.nanoTime()
                w.run { submit(Target.Sub, NoOpTask, TaskArgs.EMPTY) }
                t[i] = System.nanoTime() - s
            }
            val l = Latencies.of(t)
            return longArrayOf(l.percentile(0.50), l.percentile(0.99), l.min)
        }
    }

    /** Start-up of a worker with 8 child JVMs (every one reported ready), in milliseconds, [rounds] times; then idle CPU. */
    fun startupAndIdle(progress: PrintStream, rounds: Int, idleSeconds: Long): Pair<List<Long>, Double> {
        val startups = ArrayList<Long>()
        var idlePct = Double.NaN
        repeat(rounds) { r ->
            progress.println("mailbox: start-up of 8 children, round ${r + 1}/$rounds…")
            val s = System.nanoTime()
            val extra = System.getProperty("strata.bench.childOptions")?.split(' ')?.filter { it.isNotBlank() } ?: emptyList()
            val w = Worker(WorkerConfig(level = 3, subWorkers = 8, subIsolation = Isolation.PROCESS, childJvmOptions = extra))
            startups += (System.nanoTime() - s) / 1_000_000
            w.use {
                if (r == rounds - 1) {
                    progress.println("mailbox: idle CPU of the parent and 8 idle children over ${idleSeconds}s…")
                    Thread.sleep(3_000) // let start-up work (JIT compilation in every JVM) settle
                    val pids = listOf(ProcessHandle.current().pid()) + w.childPids.values
                    // Warm the measuring code up first: compiling it must not count as idle cost.
                    repeat(200) { pids.map(::cpu); threadCpu() }
                    Thread.sleep(1_000)
                    val threadsBefore = threadCpu()
                    val childThreadsBefore = threadCpu(pids[1])
                    val before = pids.map(::cpu)
                    val t0 = System.nanoTime()
                    Thread.sleep(idleSeconds * 1_000)
                    val wall = System.nanoTime() - t0
                    val after = pids.map(::cpu)
                    if (System.getProperty("strata.bench.threads") != null) {
                        val threadsAfter = threadCpu()
                        progress.println(threadsAfter.map { (k, v) -> k to (v - (threadsBefore[k] ?: 0L)) / 1e6 }.sortedByDescending { it.second }.take(8))
                        val childAfter = threadCpu(pids[1])
                        progress.println("child: " + childAfter.map { (k, v) -> k to (v - (childThreadsBefore[k] ?: 0L)) / 1e6 }.sortedByDescending { it.second }.take(8))
                    }
                    val deltas = after.zip(before).map { (a, b) -> a - b }
                    progress.println("mailbox: idle CPU ms by process (this JVM first): ${deltas.map { String.format(java.util.Locale.ROOT, "%.1f", it / 1e6) }}")
                    val used = deltas.sum()
                    idlePct = used * 100.0 / wall
                }
            }
        }
        return startups to idlePct
    }

    /**
     * CPU time of [pid] in nanoseconds: the sum over its threads of /proc/<pid>/task/<tid>/schedstat
     * (nanosecond resolution; `ProcessHandle` counts 10 ms clock ticks, too coarse for idle processes),
     * else the JDK's figure.
     */
    private fun threadCpu(pid: Long? = null): Map<String, Long> =
        java.nio.file.Files.list(java.nio.file.Path.of("/proc/${pid ?: "self"}/task")).use { tasks ->
            tasks.toList().associate { t ->
                (runCatching { java.nio.file.Files.readString(t.resolve("comm")).trim() }.getOrDefault("?") + "/" + t.fileName) to
                    runCatching { java.nio.file.Files.readString(t.resolve("schedstat")).trim().substringBefore(' ').toLong() }.getOrDefault(0L)
            }
        }

    private val measuringThread: String?
        get() = runCatching { java.nio.file.Files.readSymbolicLink(java.nio.file.Path.of("/proc/thread-self")).fileName.toString() }.getOrNull()

    private fun cpu(pid: Long): Long = try {
        // This JVM's measuring thread reads /proc at both ends of the window: that is not idle cost.
        val skip = if (pid == ProcessHandle.current().pid()) measuringThread else null
        threadCpu(pid).filterKeys { skip == null || !it.endsWith("/$skip") }.values.sum()
    } catch (_: Exception) {
        ProcessHandle.of(pid).flatMap { it.info().totalCpuDuration() }.map(Duration::toNanos).orElse(0L)
    }
}
