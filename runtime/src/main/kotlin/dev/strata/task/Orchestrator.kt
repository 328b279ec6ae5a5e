package dev.strata.task

import dev.strata.tensor.DType
import dev.strata.tensor.Tensor

/**
 * What a run's program uses to build the DAG, without the DSL. Valid only inside the program it was
 * given to, and only on the thread that runs that program.
 *
 * Every `submit` validates its arguments first (all problems reported at once in an
 * [dev.strata.error.InvalidSubmitException]), throws the run's first error at once if a task already failed, and
 * suspends while the task ring is full — failing with [dev.strata.error.BackPressureTimeoutException] if nothing is
 * released within the worker's `backPressureTimeout`. Dependencies on earlier tasks of the same run are
 * inferred from the tensors' tags and footprints.
 */
@StrataDsl
public interface Orchestrator {
    /** The run being built. */
    public val runId: Long

    /** Submits one task that runs [callable] with [args] on [target]. [name] appears in errors. */
    public suspend fun submit(target: Target, callable: TaskCallable, args: TaskArgs, name: String? = null)

    /**
     * Submits a group task: member `i` runs [callable] with `members[i]` on `targets[i]`, all members at
     * once (dispatched only when every target is idle). Sub targets mean distinct sub workers of the pool;
     * next-level targets must be distinct. The group completes when every member is terminal; the first
     * member failure is the group's failure.
     */
    public suspend fun submitGroup(targets: List<Target>, callable: TaskCallable, members: List<TaskArgs>, name: String? = null)

    /**
     * Allocates a zeroed host tensor whose bytes belong to the innermost scope: they are given back once
     * that scope ended and every task using them finished. Suspends while the scope depth's heap ring is
     * full (bounded by `backPressureTimeout`).
     */
    public suspend fun alloc(dtype: DType, vararg shape: Long): Tensor

    /**
     * Runs [block] in a nested scope (at most 64 deep). Ending the scope releases its tasks' scope
     * references: it never waits for them and never throws their errors.
     */
    public suspend fun <T> scope(block: suspend Orchestrator.() -> T): T

    /**
     * A dependency that code outside the DAG satisfies: tasks submitted inside [after] wait until
     * [Gate.open] is called (from any thread — a kernel, a host thread, a callback). The run is not done
     * while a gate is closed; if the run fails, its closed gates and their waiters are skipped. On a chip's
     * level-2 engine, a gate that nothing opens is found by the stall watchdog (a dependency deadlock);
     * elsewhere bound the wait with `RunHandle.result(timeout)` and cancel.
     */
    public suspend fun gate(name: String = "gate"): Gate

    /** Runs [block]; every task it submits also waits for [gate] to open. */
    public suspend fun <T> after(gate: Gate, block: suspend Orchestrator.() -> T): T
}

/** A dependency opened from outside the DAG (see [Orchestrator.gate]). Thread-safe. */
public interface Gate {
    /** The gate's name, for messages. */
    public val name: String

    /** True once opened (or skipped because its run failed). */
    public val isOpen: Boolean

    /** Opens the gate: tasks waiting only for it become ready. Idempotent. */
    public fun open()
}
