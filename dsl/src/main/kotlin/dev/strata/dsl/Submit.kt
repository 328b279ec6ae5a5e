package dev.strata.dsl

import dev.strata.run.Orchestrator
import dev.strata.task.InternalStrataApi
import dev.strata.task.StrataDsl
import dev.strata.task.TaskArgs
import dev.strata.task.TaskCallable
import dev.strata.task.Target
import dev.strata.tensor.Tensor

/** Any idle host sub worker of the pool. */
public val Orchestrator.sub: Target get() = Target.Sub

/** The next-level child [index] (a node of a level-4 worker). */
public fun Orchestrator.node(index: Int): Target = Target.Next(index)

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
}

/**
 * A submit waiting for its callable: `submit(sub) { input(a) } { args -> … }` — the second block is
 * the callable and performs the submit. A spec never given a callable fails the run when the program
 * returns, naming the task.
 */
public class PendingSubmit internal constructor(
    private val orchestrator: Orchestrator,
    private val targets: List<Target>,
    private val members: List<TaskArgs>,
    private val name: String?,
    private val group: Boolean,
) {
    internal var submitted = false

    /** Submits the task with [callable]; suspends under back-pressure like `Orchestrator.submit`. */
    public suspend operator fun invoke(callable: TaskCallable) {
        check(!submitted) { "this submit of '${name ?: "task"}' was already given a callable" }
        submitted = true
        if (group) orchestrator.submitGroup(targets, callable, members, name)
        else orchestrator.submit(targets[0], callable, members[0], name)
    }

    internal fun describe(): String = "submit(${if (group) "group of ${members.size}" else targets[0]}" +
        (name?.let { ", \"$it\"" } ?: "") + ")"
}

/**
 * Describes a task for [target]: `submit(sub, "scale") { input(a); output(b) } { args -> … }`.
 * The trailing callable submits it.
 */
@OptIn(InternalStrataApi::class)
public fun Orchestrator.submit(target: Target, name: String? = null, args: ArgsBuilder.() -> Unit = {}): PendingSubmit =
    pending(PendingSubmit(this, listOf(target), listOf(ArgsBuilder().apply(args).builder.build()), name, group = false))

/**
 * Describes a group task of [size] members, each on a distinct sub worker (or, with [targets], on the
 * given distinct next-level children): `submitGroup(sub, 4) { i -> inout(parts[i]) } { args -> … }`.
 * Member `i` gets the arguments built for index `i`.
 */
@OptIn(InternalStrataApi::class)
public fun Orchestrator.submitGroup(target: Target, size: Int, name: String? = null, args: ArgsBuilder.(Int) -> Unit): PendingSubmit =
    pending(
        PendingSubmit(
            this, List(size) { target }, List(size) { i -> ArgsBuilder().apply { args(i) }.builder.build() }, name, group = true,
        ),
    )

/** Describes a group task with one member per next-level child in [targets]. */
@OptIn(InternalStrataApi::class)
public fun Orchestrator.submitGroup(targets: List<Target>, name: String? = null, args: ArgsBuilder.(Int) -> Unit): PendingSubmit =
    pending(
        PendingSubmit(
            this, targets, List(targets.size) { i -> ArgsBuilder().apply { args(i) }.builder.build() }, name, group = true,
        ),
    )

@OptIn(InternalStrataApi::class)
private fun Orchestrator.pending(p: PendingSubmit): PendingSubmit {
    onProgramEnd {
        check(p.submitted) {
            "${p.describe()} { … } was never given its callable: write submit(target) { args } { ctx -> … }"
        }
    }
    return p
}
