package dev.strata.graph

import java.util.concurrent.ConcurrentLinkedQueue
import java.util.concurrent.atomic.AtomicLong
import java.util.concurrent.atomic.AtomicReference
import dev.strata.error.RunCancelledException
import dev.strata.trace.WorkerTrace
import java.util.concurrent.CompletableFuture

/**
 * The engine's state for one run: its dependency namespace ([tensorMap]), the count of tasks not yet
 * terminal, its first error and its completion ([done], which the public `RunHandle` views).
 *
 * [pending] starts at 1 for the build itself; each submitted task adds one, each terminal task and the
 * end of the build take one away. Whoever takes it to zero finishes the run, exactly once.
 *
 * Threads: the program's thread builds (it alone touches [tensorMap]); endpoint threads, the scheduler
 * and a canceller read and write the rest. [pending] and [firstError] are atomics; [failed], [building],
 * [builder] and [helper] are volatile flags (a stale read only delays a skip or a poll by one check);
 * [consumed] and [gates] are concurrent queues; [held] belongs to the holder of the scheduler's token.
 */
internal class Run(val id: Long, private val onCancel: (Run) -> Unit) {
    val pending = AtomicLong(1)
    val firstError = AtomicReference<Throwable?>()

    /** Set once the run failed or was cancelled: tasks not yet dispatched are skipped. */
    @Volatile
    var failed: Boolean = false
        private set

    /** True while the program body runs; consumed tasks are queued for TensorMap erasure only then. */
    @Volatile
    var building: Boolean = true

    val tensorMap = TensorMap<Task>()
    val consumed = ConcurrentLinkedQueue<Task>()

    /** The gates of the run ([Orchestrator.gate]): skipped with their waiters if the run fails. */
    val gates = ConcurrentLinkedQueue<Task>()

    /** The thread running the program while it builds (the stall watchdog interrupts a starved one). */
    @Volatile
    var builder: Thread? = null

    /** Tasks that became ready while an earlier run was still executing (the scheduler's token holder only). */
    val held = ArrayList<Task>()

    /**
     * Completes once the run is over: normally after a success, exceptionally with [firstError] after a
     * failure. The public `RunHandle` is a view of it. Completing it again is harmless (the first wins).
     */
    val done = CompletableFuture<Unit>()

    /**
     * Work a waiter does while it spins on [done] instead of yielding (a worker with child processes polls
     * their mailboxes, so the completion that ends the run needs no hand-off from the reactor thread).
     */
    @Volatile
    var helper: (() -> Unit)? = null

    /** Completes [done] with the run's outcome. Called by whoever finished the run; idempotent. */
    fun complete() {
        if (endNanos == 0L) endNanos = System.nanoTime() // before done: a caller woken by it reads a finished run's stats
        val error = if (failed) firstError.get() else null
        if (error == null) done.complete(Unit) else done.completeExceptionally(error)
    }

    // --- statistics (RunHandle.stats) and tracing ------------------------------------------------

    /** When the run was admitted ([System.nanoTime]). */
    val startNanos: Long = System.nanoTime()

    /** When the run finished ([System.nanoTime]); 0 while it runs. */
    @Volatile
    var endNanos: Long = 0

    /**
     * Tasks submitted (gates and allocations not counted) and the time the program's thread spent waiting
     * for a task slot or heap-ring bytes. Plain fields written by the program's thread only (the builder
     * brings [submitted] up to date every 256 tasks and when the build ends): another thread reads a
     * snapshot that may lag while the run builds, and the exact values once [done] completed (the build's
     * end happens before the run's completion).
     */
    var submitted: Long = 0
    var backPressureNanos: Long = 0

    /** Gates made (the program's thread only, like [submitted]) and gates opened or skipped (any thread). */
    var gatesMade: Long = 0
    val gatesDone = AtomicLong()

    /**
     * Tasks that failed and were skipped (gates not counted): rare paths, so plain atomic counts. Completed
     * tasks are not counted one by one (an atomic add per task is what the hot path must not pay): they are
     * what is submitted and not failed, skipped or still [unfinished].
     */
    val failedTasks = AtomicLong()
    val skippedTasks = AtomicLong()

    /** Tasks submitted and not yet terminal: [pending] less the build guard and the gates still closed. A snapshot. */
    val unfinished: Long
        get() = (pending.get() - (if (building) 1 else 0) - (gatesMade - gatesDone.get())).coerceAtLeast(0)

    /** The worker's timeline recorder when it traces (set before the run is published), else null. */
    var trace: WorkerTrace? = null

    /** Called (on the failing thread) once, when the run records its first error; see [fail]. */
    @Volatile
    var onFailed: ((Run) -> Unit)? = null

    /** Records [error] if it is the first; returns whether it was. Marks the run failed either way. */
    fun fail(error: Throwable): Boolean {
        val first = firstError.compareAndSet(null, error)
        failed = true
        if (first) onFailed?.let { hook -> runCatching { hook(this) } }
        return first
    }

    /** Cancels the run: unstarted tasks are skipped; [onCancel] stops the running ones. */
    fun cancel() {
        if (done.isDone) return
        fail(RunCancelledException(id))
        onCancel(this)
    }

    private val finished = java.util.concurrent.atomic.AtomicBoolean()

    /** True exactly once: for the caller that gets to do the run's end-of-run bookkeeping. */
    fun markFinished(): Boolean = finished.compareAndSet(false, true)

    /** Takes one away from [pending]; returns true when this finished the run. */
    fun arrive(): Boolean = pending.decrementAndGet() == 0L

    /**
     * A replay that made recorded gates: its tasks on threads of this JVM run with [CURRENT] set, so that
     * a recorded gate opened by one of them opens this replay's instance. Set before any task is published
     * (publication orders it before every read: a plain field).
     */
    var opensRecordedGates: Boolean = false

    override fun toString(): String = "run #$id"

    companion object {
        /** The run whose task this thread is running, while it runs one of a run that [opensRecordedGates] (else null). */
        val CURRENT: ThreadLocal<Run?> = ThreadLocal()
    }
}
