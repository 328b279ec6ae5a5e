package dev.strata.run

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
                TaskFailedException(path, taskId, taskName, error.javaClass.name, error.message, error.stackTraceToString(), error)
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
