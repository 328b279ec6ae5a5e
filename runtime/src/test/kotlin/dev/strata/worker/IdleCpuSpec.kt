package dev.strata.worker

import dev.strata.task.TaskArgs
import dev.strata.task.Target
import io.kotest.core.spec.style.FunSpec
import io.kotest.matchers.collections.shouldHaveSize
import io.kotest.matchers.longs.shouldBeLessThan
import java.lang.management.ManagementFactory
import java.util.concurrent.TimeUnit
import com.sun.management.OperatingSystemMXBean as SunOperatingSystemMXBean

/**
 * An idle worker does not spin (DESIGN.md §5, §10): after a warm-up run and a short settle, two seconds
 * without runs cost the process less than 5 % of one core, and the worker's own threads (named
 * `strata-<name>-…`) almost nothing. This is a bound on CPU *consumed*, not a timing of the engine:
 * a thread that busy-waits burns the whole 2 s and fails it by a factor of 20.
 *
 * The process-wide figure also counts what the rest of the test JVM does (JIT compiling, GC, threads other
 * specs left behind), which on a loaded CI machine can spike for one window; so a window is measured up to
 * [WINDOWS] times and the quietest one is judged. A spinning thread burns every window, so it still fails.
 */
class IdleCpuSpec : FunSpec({
    timeout = 60_000L

    test("an idle worker with 4 sub workers uses < 5% of a core and its threads < 20 ms over 2 s") {
        val os = ManagementFactory.getOperatingSystemMXBean() as SunOperatingSystemMXBean
        val mx = ManagementFactory.getThreadMXBean()
        Worker(WorkerConfig(subWorkers = 4, nextLevel = listOf(NextLevelChild.Plain), name = "IdleW")).use { w ->
            repeat(20) { w.run { repeat(50) { submit(Target.Sub, { }, TaskArgs.EMPTY) }; submit(Target.Next(0), { }, TaskArgs.EMPTY) } }
            val threads = Thread.getAllStackTraces().keys.filter { it.name.startsWith("strata-IdleW-") }
            threads shouldHaveSize 5 // 4 subs, 1 chip (the scheduler has no thread of its own)
            fun workerCpuNanos(): Long = threads.sumOf { mx.getThreadCpuTime(it.threadId()).coerceAtLeast(0) }

            Thread.sleep(200) // settle: spins end, JIT and GC work of the warm-up drains
            val (threadNanos, processNanos) = quietestWindow(limits = listOf(20L, 100L)) {
                val process0 = os.processCpuTime
                val threads0 = workerCpuNanos()
                Thread.sleep(2_000)
                val window = listOf(workerCpuNanos() - threads0, os.processCpuTime - process0)
                println("IdleCpuSpec: process ${window[1] / 1_000_000} ms, worker threads ${window[0] / 1_000} µs over 2 s idle")
                window
            }
            TimeUnit.NANOSECONDS.toMillis(threadNanos) shouldBeLessThan 20L
            TimeUnit.NANOSECONDS.toMillis(processNanos) shouldBeLessThan 100L
        }
    }

    test("an idle worker with 4 chips in child JVMs (cores, engines, watchdogs) uses < 5% of a core over 2 s, children included") {
        val os = ManagementFactory.getOperatingSystemMXBean() as SunOperatingSystemMXBean
        val chips = List(4) { NextLevelChild.Chip(dev.strata.chip.ChipConfig(it)) }
        Worker(WorkerConfig(level = 3, nextLevel = chips, chipIsolation = Isolation.PROCESS, name = "IdleC")).use { w ->
            repeat(20) { w.run { for (c in 0 until 4) submit(Target.Next(c), dev.strata.chip.kernel(dev.strata.process.NoOp), TaskArgs.EMPTY) } }
            val children = ProcessHandle.current().children().toList()
            children shouldHaveSize 4
            fun childrenCpuNanos(): Long = children.sumOf { it.info().totalCpuDuration().map { d -> d.toNanos() }.orElse(0L) }

            Thread.sleep(1_000) // settle: spins end, the children's JIT and GC work of the warm-up drains
            val (totalNanos) = quietestWindow(limits = listOf(100L)) {
                val process0 = os.processCpuTime
                val children0 = childrenCpuNanos()
                Thread.sleep(2_000)
                val processNanos = os.processCpuTime - process0
                val childNanos = childrenCpuNanos() - children0
                println("IdleCpuSpec: parent ${processNanos / 1_000_000} ms, 4 chip JVMs ${childNanos / 1_000_000} ms over 2 s idle")
                listOf(processNanos + childNanos)
            }
            TimeUnit.NANOSECONDS.toMillis(totalNanos) shouldBeLessThan 100L
        }
        dev.strata.process.assertNoLeftovers("the idle chips test")
    }
})

/** How many idle windows a test may measure before it judges the quietest one. */
private const val WINDOWS = 3

/**
 * Measures up to [WINDOWS] windows with [window] (CPU nanoseconds per figure) and returns the first whose
 * every figure is under its limit in [limits] (milliseconds), or else the quietest window measured (least
 * total), for the caller's assertions to report.
 */
private fun quietestWindow(limits: List<Long>, window: () -> List<Long>): List<Long> {
    var quietest: List<Long>? = null
    repeat(WINDOWS) {
        val figures = window()
        if (figures.zip(limits).all { (nanos, limit) -> TimeUnit.NANOSECONDS.toMillis(nanos) < limit }) return figures
        val before = quietest
        if (before == null || figures.sum() < before.sum()) quietest = figures
    }
    return quietest!!
}
