package dev.strata.task

import dev.strata.tensor.Tensor

/**
 * The code a task runs on a worker. For in-process workers any function works, capturing lambdas
 * included. [name] appears in errors; give lambdas a name when you submit them.
 */
public fun interface TaskCallable {
    /** Runs the task. Throwing fails the task (and its run) with the thrown exception as the cause. */
    public fun call(context: TaskContext)
}

/**
 * What a running task sees: its arguments, which member of a group it is, the worker it runs on, and
 * (for next-level children that are whole workers) that nested worker.
 */
public class TaskContext internal constructor(
    /** The arguments of this task, or of this member for a group task. */
    public val args: TaskArgs,
    /** This member's index in its group (0 for a single task). */
    public val memberIndex: Int,
    /** Number of members of the group (1 for a single task). */
    public val groupSize: Int,
    /** The path of the worker running the task, e.g. `L4 node#1`. */
    public val workerPath: String,
    private val nestedWorker: Runner?,
    private val chipView: ChipView? = null,
) {
    /** Tensor argument [index]. */
    public fun tensor(index: Int): Tensor = args.tensor(index)

    /** Scalar argument [index]. */
    public fun scalar(index: Int): Long = args.scalar(index)

    /**
     * The chip this task runs on: set for tasks sent to a chip (`chip(i)`) and for kernels on its cores.
     * Throws elsewhere.
     */
    public val chip: ChipView
        get() = chipView ?: throw IllegalStateException(
            "the task runs on $workerPath, which is not a chip or a core of one; ctx.chip exists for chip tasks and kernels",
        )

    /**
     * The worker one level down that this next-level child is (a level-4 worker's node is a level-3
     * worker). Throws if this task runs on a worker without one (a sub worker, a plain next-level child).
     */
    public val worker: Runner
        get() = nestedWorker ?: throw IllegalStateException(
            "the task runs on $workerPath, which has no nested worker; only next-level children configured " +
                "with a nested Worker expose one",
        )
}
