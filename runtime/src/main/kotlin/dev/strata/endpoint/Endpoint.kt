package dev.strata.endpoint

import dev.strata.graph.Task

/**
 * One member of a task handed to one worker; carries the outcome back to the scheduler.
 *
 * Its mutable fields are plain: the endpoint's thread writes them before it reports the completion, and
 * the scheduler reads them after the report reached it through its inbox (whose offer/poll orders the two).
 */
internal class Dispatch(val task: Task, val member: Int, val endpoint: Endpoint) {
    /** Null on success; set by the endpoint before it reports completion. */
    var error: Throwable? = null

    /** Set when the endpoint's thread already released the task's consumers (see [Endpoint.start]). */
    var fanoutDone: Boolean = false

    /** A successor the endpoint's thread claimed and runs next, instead of going idle. */
    var chained: Dispatch? = null

    /** Set when that completion was the last of its run: the run's handle is already complete. */
    var finishedRun: Boolean = false

    /**
     * When the endpoint started running it ([System.nanoTime]), for a trace: set by an endpoint that runs
     * tasks on its own thread, only for a traced task; 0 means "when it was dispatched".
     */
    var startedNanos: Long = 0

    /** When it ended ([System.nanoTime]) as the endpoint reports it; 0 means "when the completion is reported". */
    var endedNanos: Long = 0

    /**
     * Takes the times a child JVM reported for this dispatch ([start], [end]: its `System.nanoTime`, the same
     * clock as ours on one host) for the trace, when they are plausible: within the dispatch's own interval
     * as this JVM saw it (a child on a clock of its own, or one that reported nothing, keeps the dispatch
     * and completion times).
     */
    fun ranInChild(start: Long, end: Long) {
        val now = System.nanoTime()
        val dispatched = task.times?.dispatched ?: return
        if (start != 0L && start >= dispatched && start <= end && end <= now) {
            startedNanos = start
            endedNanos = end
        }
    }

    /** Set by [Endpoint.stop] (any thread): a dispatch stopped before it started does not run. */
    @Volatile
    var stopRequested: Boolean = false
}

/**
 * The one interface the scheduler talks to (DESIGN.md §7): a worker that runs one dispatch at a time.
 * Implementations: [ThreadEndpoint] (a thread of this JVM) and `ProcessEndpoint` (a child JVM behind a
 * shared-memory mailbox); a remote endpoint (a cluster member, level 4 across hosts) is next.
 */
internal interface Endpoint : AutoCloseable {
    /** Path used in errors, e.g. `L3 sub#2`. */
    val path: String

    /** Index among the endpoints of its kind (sub pool or next-level children). */
    val index: Int

    /**
     * Starts the worker; completions are reported to [onDone] from the worker's own thread. [onDone] may
     * return a successor that became ready through this completion: the endpoint then runs it next on the
     * same thread (and reports it the same way) instead of going idle.
     */
    fun start(onDone: (Dispatch) -> Dispatch?)

    /**
     * Offers this worker's idle time to [help] (call before [start]): while it waits for work with a spin, it
     * takes the scheduling steps that others queued for it. Workers that cannot help ignore it.
     */
    fun helpWhileIdle(help: IdleHelp) {}

    /**
     * Hands [dispatch] to the worker without blocking. The endpoint must be idle. Throws if it can no
     * longer take work (closed or dead); the scheduler then fails that member.
     */
    fun dispatch(dispatch: Dispatch)

    /** True if the calling thread is this endpoint's own (the caller is one of its tasks). */
    fun ownsCurrentThread(): Boolean

    /** The dispatch this worker is running now, or null (what the stall watchdog and cancellation look at). */
    val running: Dispatch?

    /** Whether this worker is doing something (running a task, or getting ready to: a child JVM being replaced). */
    val busy: Boolean get() = running != null

    /** When [running] started ([System.nanoTime]); meaningless while nothing runs. */
    val runningSinceNanos: Long

    /** When this worker last started or finished a task ([System.nanoTime]): its progress clock. */
    val lastProgressNanos: Long

    /**
     * Stops [dispatch] if this worker is still running it; never blocks, never throws. A thread is
     * interrupted (a task that ignores interrupts cannot be stopped in a JVM; its thread is left running). A
     * child JVM is asked to interrupt the task and killed if it has not answered within its grace, or killed
     * at once for [StopReason.STALLED]; a sub child is then replaced by a fresh one.
     */
    fun stop(dispatch: Dispatch, reason: StopReason)

    /** What is known about [dispatch] running here for [forNanos], for a stall verdict (e.g. the child's pid and heartbeat). */
    fun describeRunning(dispatch: Dispatch, forNanos: Long): String =
        "$path has been running task #${dispatch.task.id} '${dispatch.task.name}' for ${forNanos / 1_000_000} ms"

    /** Stops the worker, waiting at most [timeoutMillis] for a running task; never throws. */
    fun close(timeoutMillis: Long)

    override fun close(): Unit = close(1_000)
}

/**
 * How an idle worker helps its scheduler (see `Scheduler`, "Idle workers take the step"): a worker that
 * spins waiting for work [enter]s, checks [queued] as part of its spin, and [leave]s before it parks or
 * runs a task (or to take a step). A poster that sees a helper in (the count is read after its event is
 * queued) leaves the step to it; a helper looks at the queue after it left (its decrement comes first), so
 * one of the two always takes the step.
 */
internal interface IdleHelp {
    fun enter()

    /** Whether a step is waiting: [NONE], [DUE], or [MAY_WAIT] (see [StepDelay]). Cheap: read in a spin. */
    fun queued(): Int

    /** A count that moves while a program builds on this worker (its task numbers): read by [StepDelay]. */
    fun buildProgress(): Long

    /**
     * Leaves the helpers; takes the waiting step, if any, preferring sub worker [index] (the caller's) for a
     * task it dispatches, so the work lands in the caller's own slot.
     */
    fun leave(index: Int)

    companion object {
        /** Nothing is queued. */
        const val NONE = 0

        /** A step is queued: take it now. */
        const val DUE = 1

        /** A step is queued that only makes ready a task of a program still building: it may wait ([StepDelay]). */
        const val MAY_WAIT = 2
    }
}

/**
 * When a helping worker takes a step that [IdleHelp.MAY_WAIT]: once the program stopped submitting for
 * [QUIET_NANOS], and at the latest [MAX_WAIT_NANOS] after the worker first saw it.
 *
 * Why wait at all: a program that submits a task every few hundred nanoseconds makes each one ready before
 * the next is built. Taking a step per task costs the worker an event and a dispatch per task, and the
 * program a cache miss on every line the worker just wrote (its producer's state, the inbox, the window):
 * a chain of no-op tasks ran at a third of its rate (docs/performance.md, "Issue 17: ready tasks may wait
 * for their successors"). Waiting a few microseconds lets the program attach the next tasks first; the worker
 * then runs them through the successor hand-off, many tasks per step. A program that stops submitting (it
 * ends its build, computes, or waits) has its task taken after [QUIET_NANOS]; one that ended its build is
 * not waited for at all (the step is [IdleHelp.DUE]).
 *
 * One per helping wait, on the worker's own thread; [IdleHelp.buildProgress] is read once per [QUIET_NANOS],
 * not per pause (the program's thread writes it for every task).
 */
internal class StepDelay(private val help: IdleHelp) {
    private var seenAt = 0L
    private var checkedAt = 0L
    private var lastProgress = 0L

    /** Called in a helper's spin: whether to take the queued step now. */
    fun due(): Boolean {
        when (help.queued()) {
            IdleHelp.NONE -> {
                seenAt = 0L
                return false
            }
            IdleHelp.DUE -> return taken()
        }
        val now = System.nanoTime()
        if (seenAt == 0L) {
            seenAt = now
            checkedAt = now
            lastProgress = help.buildProgress()
            return false
        }
        if (now - seenAt >= MAX_WAIT_NANOS) return taken()
        if (now - checkedAt < QUIET_NANOS) return false
        val p = help.buildProgress()
        if (p == lastProgress) return taken()
        lastProgress = p
        checkedAt = now
        return false
    }

    private fun taken(): Boolean {
        seenAt = 0L
        return true
    }

    companion object {
        /** How long the program must not have submitted before a waiting step is taken. */
        const val QUIET_NANOS = 2_000L

        /** The longest a step waits. */
        const val MAX_WAIT_NANOS = 10_000L
    }
}

/** Why [Endpoint.stop] is called. */
internal enum class StopReason {
    /** Its run was cancelled: stop gently (interrupt), then harder after a grace. */
    CANCELLED,

    /** The stall watchdog declared it `running-stalled`: stop it now. */
    STALLED,
}
