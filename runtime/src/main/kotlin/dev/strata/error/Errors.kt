package dev.strata.error

import java.nio.file.Path
import kotlin.time.Duration

/**
 * Every error Strata raises itself. Messages name the culprit (task, callable, worker path, buffer,
 * setting) and, where there is one, the fix.
 */
public sealed class StrataException(message: String, cause: Throwable? = null) : RuntimeException(message, cause)

/**
 * A task failed on a worker. Raised by `Worker.run` / `RunHandle.await` for the first failing task of a
 * run, and at once by any later `submit` of that run.
 *
 * Errors nest: when the failing task ran a nested worker's run that failed, [workerPath] joins every
 * level (`L4 node#1 / L3 sub#0`) and the other fields describe the innermost failure.
 */
public class TaskFailedException(
    /** Path of the worker where the error was thrown, outermost level first. */
    public val workerPath: String,
    /** The task's sequence number in its worker. */
    public val taskId: Long,
    /** Name of the task (the callable's name unless given). */
    public val taskName: String,
    /** Fully qualified class of the original exception. */
    public val errorClass: String,
    /** Message of the original exception. */
    public val errorMessage: String?,
    /** Stack trace of the original exception, as text (it may come from another process). */
    public val errorStack: String,
    cause: Throwable?,
) : StrataException(
    "task #$taskId '$taskName' failed on $workerPath: $errorClass${errorMessage?.let { ": $it" } ?: ""}",
    cause,
) {
    internal companion object {
        /** Wraps [error] thrown by a task on [path]; joins paths when [error] is itself a task failure. */
        fun of(path: String, taskId: Long, taskName: String, error: Throwable): TaskFailedException =
            if (error is TaskFailedException) {
                TaskFailedException(
                    "$path / ${error.workerPath}", error.taskId, error.taskName, error.errorClass,
                    error.errorMessage, error.errorStack, error,
                )
            } else {
                // Never throws, whatever the error's own methods do (ErrorText); an unprintable error is not kept
                // as the cause, or printing this exception would throw in its turn.
                TaskFailedException(
                    path, taskId, taskName, error.javaClass.name, ErrorText.message(error), ErrorText.stack(error),
                    error.takeIf { ErrorText.printable(it) },
                )
            }
    }
}

/** A submit was rejected before anything was dispatched; [problems] lists every problem found. */
public class InvalidSubmitException(
    /** What was submitted, e.g. `task 'stencil' -> sub`. */
    public val subject: String,
    public val problems: List<SubmitProblem>,
) : StrataException(
    buildString {
        append("$subject rejected: ")
        append(if (problems.size == 1) "1 problem" else "${problems.size} problems")
        for (p in problems) append("\n  - ").append(p.message)
    },
)

/** A worker configuration is invalid; [problems] lists every problem found. */
public class InvalidConfigException(public val problems: List<String>) : StrataException(
    "invalid worker configuration: " + problems.joinToString(separator = "\n  - ", prefix = "\n  - "),
)

/**
 * `submit` or `alloc` waited [timeout] for room in a full ring and none was released. [ring] names the
 * ring; [setting] is the configuration to raise.
 */
public class BackPressureTimeoutException(
    public val ring: String,
    public val setting: String,
    public val timeout: Duration,
    detail: String,
) : StrataException("$ring is full and nothing was released within $timeout. $detail")

/**
 * The timeline trace a worker recorded (`WorkerConfig.trace`) could not be written to [path] when it
 * closed; the worker itself closed normally. The cause says why (a missing permission, a full disk).
 */
public class TraceWriteException(public val path: Path, cause: Throwable) :
    StrataException("could not write the trace to $path: ${cause.message ?: cause}; choose a writable path for WorkerConfig.trace (--trace)", cause)

/** Misuse of scopes: nesting deeper than the limit. */
public class ScopeException(message: String) : StrataException(message)

/** The run was cancelled through its handle before it finished. */
public class RunCancelledException(public val runId: Long) :
    StrataException("run #$runId was cancelled; tasks that had not started were skipped")

/** Waiting for a run's result took longer than the caller allowed. The run goes on. */
public class RunTimeoutException(public val runId: Long, public val timeout: Duration) :
    StrataException("run #$runId did not finish within $timeout (it is still running; join again or cancel it)")

/** The worker was closed; no new run can start. */
public class WorkerClosedException(public val workerPath: String) :
    StrataException("worker $workerPath is closed; create a new worker to run more work")

/** An invariant of the engine broke. A bug in Strata: please report it with the message. */
public class InternalStrataException(message: String, cause: Throwable?) :
    StrataException("internal error in Strata: $message", cause)

/**
 * A peer broke the mailbox protocol: bad magic or version, an unknown state, a length outside its
 * region. The mailbox (and the child behind it) can no longer be trusted; [mailbox] names it.
 */
public class ProtocolException(public val mailbox: String, detail: String) :
    StrataException("mailbox $mailbox violates the protocol: $detail")

/**
 * A child worker process exited or was killed while it owed an answer (a task, a control request, its
 * start-up report). [workerPath] names the child; [exitCode] is its exit status, [signal] the signal
 * that killed it when there was one (exit statuses above 128 are reported as signals, as shells do).
 * The task it was running fails with this error. A sub worker or a plain or nested next-level child is
 * then replaced by a fresh child JVM ([replaced]), which runs what was queued behind it; a chip child is
 * not (its device state and domains are gone): everything sent to it later fails with this error.
 */
public class WorkerDiedException(
    public val workerPath: String,
    public val pid: Long,
    public val exitCode: Int,
    /** What the child was doing, e.g. `task #12 'stencil'`, or null when it was idle. */
    public val doing: String?,
    /** True when a fresh child replaces it (sub workers, plain and nested next-level children); false for a chip. */
    public val replaced: Boolean = false,
    /**
     * For a node on another host (pid and exit code are then -1): what happened to it, e.g. `became
     * unreachable (no heartbeat within 2 s)`; null for a child process.
     */
    public val remoteReason: String? = null,
) : StrataException(
    if (remoteReason != null) {
        "remote node $workerPath $remoteReason${doing?.let { " while running $it" } ?: ""}. " +
            "Tasks sent to it fail until it is reachable again (a restarted node rejoins the cluster for the next run)"
    } else {
        "child worker $workerPath (pid $pid) died${doing?.let { " while running $it" } ?: ""}: ${describeExit(exitCode)}. " +
            if (replaced) "A fresh child JVM replaces it for later tasks" else "Tasks sent to it fail; close this worker and create a new one to get the child back"
    },
) {
    /** The signal that killed the child, or null if it exited by itself (or is a remote node). */
    public val signal: Int? get() = if (remoteReason == null && exitCode > 128) exitCode - 128 else null

    internal companion object {
        private val NAMES = mapOf(1 to "SIGHUP", 2 to "SIGINT", 3 to "SIGQUIT", 6 to "SIGABRT", 9 to "SIGKILL", 11 to "SIGSEGV", 15 to "SIGTERM")

        /** Node [path] on another host was lost ([reason]) while running [doing] (null when idle). */
        fun remote(path: String, reason: String, doing: String?): WorkerDiedException =
            WorkerDiedException(path, -1, -1, doing, replaced = false, remoteReason = reason)

        fun describeExit(code: Int): String =
            if (code > 128) "killed by signal ${code - 128}${NAMES[code - 128]?.let { " ($it)" } ?: ""}, exit status $code"
            else "exited with code $code" + (EXITS[code]?.let { " ($it)" } ?: "")

        /** Exit codes a Strata child uses for its own ends. */
        private val EXITS = mapOf(
            70 to "its parent was gone",
            75 to "a kernel ignored its stall verdict, so the chip JVM ended itself; the chip is unusable",
            76 to "a chip program ran past the chip's syncTimeout and ignored its interrupt, so the chip JVM ended itself; the chip is unusable",
        )
    }
}

/**
 * Shared memory ([directory], normally the /dev/shm tmpfs) has no room for [requested] bytes of [kind]
 * (a host tensor, a mailbox, a communication window). Nothing was created. [free] and [total] are what
 * the file system reported (-1 if unknown).
 */
public class SharedMemoryFullException(
    public val directory: String,
    public val kind: String,
    public val requested: Long,
    public val free: Long,
    public val total: Long,
) : StrataException(
    "cannot reserve ${bytes(requested)} of shared memory for ${describe(kind)} in $directory: it has ${bytes(free)} free of ${bytes(total)}. " +
        "Free memory there (other programs' files, workers not closed), use smaller tensors, or enlarge the tmpfs " +
        "(e.g. mount -o remount,size=… $directory; docker run --shm-size=…)",
) {
    private companion object {
        fun describe(kind: String): String = when (kind) {
            "buffer" -> "a host tensor"
            "heap" -> "a run's heap ring"
            "comm" -> "a communication domain's windows"
            "mailbox" -> "a child's mailbox"
            "staging" -> "a staging copy to or from a chip"
            else -> "a '$kind' segment"
        }

        fun bytes(n: Long): String = when {
            n < 0 -> "an unknown amount"
            n >= 1L shl 30 -> String.format(java.util.Locale.ROOT, "%.1f GiB", n / (1L shl 30).toDouble())
            n >= 1L shl 20 -> String.format(java.util.Locale.ROOT, "%.1f MiB", n / (1L shl 20).toDouble())
            else -> "$n B"
        }
    }
}

/**
 * A child worker process did not answer [what] within [timeout]: it hangs (a blocked call, a stopped JVM).
 * It was killed; [replaced] says whether a fresh child JVM took its place.
 */
public class ChildUnresponsiveException(
    public val workerPath: String,
    public val pid: Long,
    public val what: String,
    public val timeout: Duration,
    public val replaced: Boolean,
) : StrataException(
    "child worker $workerPath (pid $pid) did not answer $what within $timeout; it was killed" +
        if (replaced) " and a fresh child JVM replaces it" else "; tasks sent to it fail",
)

/**
 * A worker could not start: one or more child processes failed or did not report ready before the
 * start-up deadline. [failures] has one line per failed child, naming it and what went wrong. Every
 * child already started was stopped and every shared-memory file removed before this was thrown.
 */
public class WorkerStartException(public val workerPath: String, public val failures: List<String>) : StrataException(
    "worker $workerPath could not start: ${failures.size} child${if (failures.size == 1) "" else "ren"} failed" +
        failures.joinToString(separator = "\n  - ", prefix = "\n  - ") +
        "\n(everything already started was stopped and its shared memory removed)",
)

/**
 * A callable cannot be sent to a process-isolated worker: only callables that a child JVM can find by
 * name cross processes (an `object`, a class with a no-arg constructor, or a top-level function given
 * through `callable(::fn)`). Raised when the callable is registered or first submitted, never later.
 */
public class InvalidCallableException(
    public val callableClass: String,
    detail: String,
    /** Where it cannot run: `in a child process`, or `on remote node L4 node#1@host:port`. */
    where: String = "in a child process",
) : StrataException("callable $callableClass cannot run $where: $detail")

/**
 * An exception thrown by a task in another process, carried back as text: [errorClass] is the original
 * exception's class, [remoteStack] its stack trace as the child printed it.
 */
public class RemoteException(
    public val errorClass: String,
    public val remoteMessage: String?,
    public val remoteStack: String,
) : RuntimeException("$errorClass${remoteMessage?.let { ": $it" } ?: ""}", null, false, false) {
    override fun toString(): String = "RemoteException($errorClass${remoteMessage?.let { ": $it" } ?: ""})"
}

/**
 * A communication domain could not complete a collective step: a barrier timed out (a peer is slow,
 * hung or dead) or the domain was already broken by an earlier failure. Every later step of the domain
 * fails at once with this error, so no peer waits forever. [domain] names the domain, [rank] the
 * caller's rank in it.
 */
public class CommunicationException(public val domain: String, public val rank: Int, detail: String) :
    StrataException("communication domain '$domain', rank $rank: $detail")

/**
 * A chip's driver failed an operation: opening the device, `malloc`, a copy, a launch, `synchronize`
 * (timed out or failed), communicator bring-up. [chipPath] names the chip (`L3 chip#1`), [operation]
 * the driver call. After a `synchronize` timeout the chip is unusable: later tasks to it fail at once.
 */
public class ChipException(
    public val chipPath: String,
    public val operation: String,
    detail: String,
    cause: Throwable? = null,
) : StrataException("chip $chipPath: $operation failed: $detail", cause)

/** How a stall was classified (seed pr930-935), in priority order. */
public enum class StallKind(public val label: String, public val meaning: String) {
    RUNNING_STALLED("running-stalled", "a core has been running one task for the whole budget without finishing it"),
    READY_BUT_IDLE("ready-but-idle", "tasks are ready but no core is running anything"),
    DEPENDENCY_DEADLOCK("dependency deadlock", "tasks wait for producers or gates that nothing will complete, and no core is running"),
    ORCHESTRATOR_STARVATION("orchestrator starvation", "no task is left to run, but the program neither submits more nor returns"),
}

/**
 * A stall watchdog declared that a run made no progress for [budget] (DESIGN.md §9): a chip's (level 2,
 * always on) or a host worker's (level 3 and up, when `WorkerConfig.stallTimeout` is set). [kind]
 * classifies the stall; [detail] names the worker and task at fault or the counts of waiting tasks. The
 * run fails at once with this error (the first declaration wins); tasks that had not started are
 * skipped, and a thread stuck in a task is interrupted. [budgetSetting] names where the budget is set.
 */
public class SchedulerStallException(
    public val workerPath: String,
    public val kind: StallKind,
    public val budget: Duration,
    detail: String,
    budgetSetting: String = "ChipConfig.stallTimeout or STRATA_SCHEDULER_TIMEOUT_MS",
) : StrataException(
    "$workerPath: no progress for $budget — ${kind.label}: $detail. Fix the kernel or the program; if the work is " +
        "just slow, raise the budget ($budgetSetting)",
)

/**
 * A graph replay was refused before anything was dispatched: [problems] lists every binding that is
 * missing, unknown, of the wrong dtype or shape, overlapping another, or unusable on this worker.
 */
public class GraphBindingException(public val graph: String, public val problems: List<String>) : StrataException(
    "graph '$graph' cannot be replayed with these bindings: " + problems.joinToString(separator = "\n  - ", prefix = "\n  - "),
)
