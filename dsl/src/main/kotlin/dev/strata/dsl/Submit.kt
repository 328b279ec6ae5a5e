package dev.strata.dsl

import dev.strata.run.Orchestrator
import dev.strata.task.StrataDsl
import dev.strata.task.TaskArgs
import dev.strata.task.TaskCallable
import dev.strata.task.Target
import dev.strata.tensor.Tensor

/** Any idle host sub worker of the pool. */
public val Orchestrator.sub: Target get() = Target.Sub

/** The next-level child [index] (a node of a level-4 worker). */
public fun Orchestrator.node(index: Int): Target = Target.Next(index)

/** Chip [index] of a level-3 worker (its next-level child [index]). */
public fun Orchestrator.chip(index: Int): Target = Target.Next(index)

/** Core [index] of a chip, in a level-2 program (`ctx.worker.run { submit(core(0), …) }`). */
public fun Orchestrator.core(index: Int): Target = Target.Next(index)

/** The next-level child [index], whatever its level. */
public fun Orchestrator.next(index: Int): Target = Target.Next(index)

/** Arguments of one task: tensors with how the task uses them, then scalars, in order. */
@StrataDsl
public class ArgsBuilder internal constructor() {
    internal val builder = TaskArgs.Builder()

    /** The task reads [tensor]. */
    public fun input(tensor: Tensor) { builder.input(tensor) }

    /** The task writes new contents into [tensor]. */
    public fun output(tensor: Tensor) { builder.output(tensor) }

    /** The task reads then writes [tensor]. */
    public fun inout(tensor: Tensor) { builder.inout(tensor) }

    /** The task writes into [tensor], a caller-owned buffer that outlives the run. */
    public fun outputExisting(tensor: Tensor) { builder.outputExisting(tensor) }

    /** The task uses [tensor] without dependency tracking (the caller orders it). */
    public fun noDep(tensor: Tensor) { builder.noDep(tensor) }

    /** A 64-bit scalar argument. */
    public fun scalar(value: Long) { builder.scalar(value) }

    /** A 32-bit scalar argument, widened. */
    public fun scalar(value: Int) { builder.scalar(value.toLong()) }

    /** A double scalar argument, passed as its IEEE bits (read it with `Double.fromBits`). */
    public fun scalar(value: Double) { builder.scalar(value.toRawBits()) }

    internal fun build(): TaskArgs = builder.build()
}

internal fun argsOf(block: ArgsBuilder.() -> Unit): TaskArgs = ArgsBuilder().apply(block).build()

/**
 * Submits a task to [target]: `submit(sub, { input(a); output(b) }) { ctx -> … }` — the arguments block
 * says which tensors the task reads and writes (dependencies are inferred from it), the trailing
 * callable is the task's code. [name] appears in errors. Suspends under back-pressure like
 * [Orchestrator.submit].
 */
public suspend fun Orchestrator.submit(
    target: Target,
    args: ArgsBuilder.() -> Unit = {},
    name: String? = null,
    callable: TaskCallable,
) {
    submit(target, callable, argsOf(args), name)
}

/** [submit] with the task's [name] first: `submit(sub, "scale", { input(a); output(b) }) { … }`. */
public suspend fun Orchestrator.submit(
    target: Target,
    name: String,
    args: ArgsBuilder.() -> Unit = {},
    callable: TaskCallable,
) {
    submit(target, callable, argsOf(args), name)
}

/**
 * Submits a group task of [size] members, each on a distinct sub worker, dispatched all at once:
 * `submitGroup(sub, 4, { i -> inout(parts[i]) }) { ctx -> … }`. Member `i` gets the arguments built for
 * index `i` and sees `ctx.memberIndex == i`.
 */
public suspend fun Orchestrator.submitGroup(
    target: Target,
    size: Int,
    args: ArgsBuilder.(member: Int) -> Unit,
    name: String? = null,
    callable: TaskCallable,
) {
    submitGroup(List(size) { target }, callable, List(size) { i -> argsOf { args(i) } }, name)
}

/** Submits a group task with one member per next-level child in [targets] (distinct). */
public suspend fun Orchestrator.submitGroup(
    targets: List<Target>,
    args: ArgsBuilder.(member: Int) -> Unit,
    name: String? = null,
    callable: TaskCallable,
) {
    submitGroup(targets, callable, List(targets.size) { i -> argsOf { args(i) } }, name)
}

/**
 * Submits one call of a typed kernel to [target]: `submit(sub, Saxpy(x, y, 2f))`. The call's arguments
 * carry the tags the kernel declares, so dependencies are inferred as for any task. [name] overrides the
 * task's name (the kernel's by default).
 */
public suspend fun Orchestrator.submit(target: Target, call: KernelCall, name: String? = null) {
    submit(target, call.callable, call.args, name ?: call.name)
}

/**
 * Submits a group task with one member per target in [targets] (distinct next-level children), member
 * `m` running [member]`(m)`: `submitGroup(chips) { r -> AllreduceStep(out[r], data[r], m) }`. Every member
 * must call the same kernel.
 */
public suspend fun Orchestrator.submitGroup(targets: List<Target>, name: String? = null, member: (m: Int) -> KernelCall) {
    val calls = List(targets.size) { member(it) }
    val callable = calls.first().callable
    require(calls.all { it.callable == callable }) {
        "a group runs one kernel on every member, but the members call ${calls.map { it.callable }.distinct().joinToString()}"
    }
    submitGroup(targets, callable, calls.map { it.args }, name ?: calls.first().name)
}

/** Submits a group task of [size] members on distinct sub workers ([target] is `sub`), member `m` running [member]`(m)`. */
public suspend fun Orchestrator.submitGroup(target: Target, size: Int, name: String? = null, member: (m: Int) -> KernelCall) {
    submitGroup(List(size) { target }, name, member)
}
