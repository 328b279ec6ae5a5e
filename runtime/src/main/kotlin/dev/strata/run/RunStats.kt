package dev.strata.run

import dev.strata.graph.Run
import java.util.Locale
import kotlin.time.Duration
import kotlin.time.Duration.Companion.nanoseconds

/**
 * What one run did: its tasks by final state, how long it took and how long its program waited for room
 * (back-pressure: a free task slot or heap-ring bytes). Gates and `alloc`s are not tasks here.
 *
 * Exact once the run finished ([finished]); while it runs, a snapshot whose counts may lag by the tasks
 * ending at that moment ([unfinished] = submitted but not yet completed, failed or skipped).
 */
public data class RunStats(
    /** The run's sequence number in its worker. */
    val runId: Long,
    /** Tasks submitted (a group task counts once). */
    val tasks: Long,
    val completed: Long,
    val failed: Long,
    /** Tasks that never ran: a producer failed, or the run failed or was cancelled first. */
    val skipped: Long,
    /** From admission to the end of the run (to now while it runs). */
    val wallTime: Duration,
    /** Time the program spent waiting for a task slot or heap-ring bytes. */
    val backPressureTime: Duration,
    /** Whether the run is over. */
    val finished: Boolean,
) {
    /** Tasks submitted and not yet completed, failed or skipped. */
    val unfinished: Long get() = (tasks - completed - failed - skipped).coerceAtLeast(0)

    /**
     * One line for a log or a sample's output, e.g.
     * `run #1: 1200 tasks (1200 completed) in 12.3 ms, 0.4 ms waiting for room`.
     */
    public fun summary(): String = buildString {
        append("run #").append(runId).append(": ").append(tasks).append(if (tasks == 1L) " task (" else " tasks (")
        val parts = buildList {
            add("$completed completed")
            if (failed > 0) add("$failed failed")
            if (skipped > 0) add("$skipped skipped")
            if (unfinished > 0) add("$unfinished unfinished")
        }
        append(parts.joinToString(", ")).append(") ")
        append(if (finished) "in " else "running for ").append(millis(wallTime))
        if (backPressureTime > Duration.ZERO) append(", ").append(millis(backPressureTime)).append(" waiting for room")
    }

    override fun toString(): String = summary()

    internal companion object {
        fun millis(d: Duration): String = String.format(Locale.ROOT, "%.1f ms", d.inWholeNanoseconds / 1e6)

        fun of(run: Run): RunStats {
            val end = run.endNanos
            val failed = run.failedTasks.get()
            val skipped = run.skippedTasks.get()
            val completed = (run.submitted - failed - skipped - run.unfinished).coerceAtLeast(0)
            return RunStats(
                run.id, run.submitted, completed, failed, skipped,
                ((if (end != 0L) end else System.nanoTime()) - run.startNanos).nanoseconds, run.backPressureNanos.nanoseconds, end != 0L,
            )
        }
    }
}
