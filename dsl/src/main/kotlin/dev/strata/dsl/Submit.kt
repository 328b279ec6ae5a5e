package dev.strata.dsl

import dev.strata.task.Orchestrator
import dev.strata.task.StrataDsl
import dev.strata.task.ScalarParameter
import dev.strata.task.TaskArgs
import dev.strata.task.TaskCallable
import dev.strata.task.Target
import dev.strata.tensor.Tensor

/**
 * Any idle host sub worker of the pool:
 *
 * ```
 * worker { subWorkers(2) }.use { w -> w.run { submit(sub, "hello") { ctx -> println(ctx.workerPath) } } }
 * ```
 */
public val Orchestrator.sub: Target get() = Target.Sub

/**
 * The next-level child [index] (a node of a level-4 worker):
 *
 * ```
 * worker(level = 4) { nextLevelWorker { subWorkers(1) } }.use { l4 ->
 *     l4.run { submit(node(0), "on node 0") { ctx -> ctx.worker.run { submit(sub, "below") { } } } }
 * }
 * ```
 */
public fun Orchestrator.node(index: Int): Target = Target.Next(index)

/**
 * Chip [index] of a level-3 worker (its next-level child [index]):
 *
 * ```
 * worker { chipIsolation = Isolation.THREAD; chips(0..1) }.use { w ->
 *     w.run { submit(chip(1), "where") { ctx -> check(ctx.chip.index == 1) } }
 * }
 * ```
 */
public fun Orchestrator.chip(index: Int): Target = Target.Next(index)

/**
 * Core [index] of a chip, in a level-2 program (a chip task's `ctx.worker.run { }`):
 *
 * ```
 * worker { chipIsolation = Isolation.THREAD; chips(0..0) { cores("aiv", 2) } }.use { w ->
 *     w.run { submit(chip(0), "program") { ctx -> ctx.worker.run { submit(core(1), "on core 1") { } } } }
 * }
 * ```
 */
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

    /** A scalar each replay of the graph being recorded binds (`scalarParameter` in `taskGraph { }`); a run refuses it. */
    public fun scalar(parameter: ScalarParameter) { builder.scalar(parameter) }

    internal fun build(): TaskArgs = builder.build()
}

internal fun argsOf(block: ArgsBuilder.() -> Unit): TaskArgs = ArgsBuilder().apply(block).build()

/**
 * Submits a task to [target]: the arguments block says which tensors the task reads and writes
 * (dependencies are inferred from it), the trailing callable is the task's code. [name] appears in
 * errors. Suspends under back-pressure like [Orchestrator.submit].
 *
 * ```
 * worker { subWorkers(2) }.use { w ->
 *     val a = w.hostTensor(DType.I32, 1)
 *     val b = w.hostTensor(DType.I32, 1)
 *     w.run {
 *         submit(sub, { output(a) }) { a.setInt(0, 20) }
 *         submit(sub, { input(a); output(b); scalar(2) }, "times") { ctx -> b.setInt(0, a.getInt(0) * ctx.scalar(0).toInt()) }
 *     }
 *     check(b.getInt(0) == 40)
 * }
 * ```
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
 * Submits a group task of [size] members, each on a distinct sub worker, dispatched all at once. Member
 * `i` gets the arguments built for index `i` and sees `ctx.memberIndex == i`:
 *
 * ```
 * worker { subWorkers(4) }.use { w ->
 *     val parts = w.hostTensor(DType.I32, 4)
 *     w.run { submitGroup(sub, 4, { i -> output(parts.slice(0, i.toLong(), i + 1L)) }) { ctx -> ctx.tensor(0).setInt(0, ctx.memberIndex) } }
 *     check(parts.getInt(3) == 3)
 * }
 * ```
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
 * Submits one call of a typed kernel to [target]. The call's arguments carry the tags the kernel
 * declares, so dependencies are inferred as for any task. [name] overrides the task's name (the
 * kernel's by default).
 *
 * ```
 * object Fill : Kernel2<Tensor, Float>(Param.output, Param.float) {
 *     override fun run(ctx: TaskContext, a: Tensor, b: Float) = a.fill(b)
 * }
 * worker { subWorkers(1) }.use { w ->
 *     val x = w.hostTensor(DType.F32, 16)
 *     w.run { submit(sub, Fill(x, 0.5f), name = "fill x") }
 *     check(x.getFloat(15) == 0.5f)
 * }
 * ```
 */
public suspend fun Orchestrator.submit(target: Target, call: KernelCall, name: String? = null) {
    submit(target, call.callable, call.args, name ?: call.name)
}

/**
 * Submits a group task with one member per target in [targets] (distinct next-level children), member
 * `m` running [member]`(m)`. Every member must call the same kernel.
 *
 * ```
 * object Rank : Kernel1<Tensor>(Param.outputExisting) {
 *     override fun run(ctx: TaskContext, a: Tensor) = check(ctx.chip.index == ctx.memberIndex)
 * }
 * worker { chipIsolation = Isolation.THREAD; chips(0..2) }.use { w ->
 *     val out = List(3) { w.deviceTensor(it, DType.I32, 1) }
 *     w.run { submitGroup(List(3) { chip(it) }) { r -> Rank(out[r]) } }   // all three chips at once
 * }
 * ```
 */
public suspend fun Orchestrator.submitGroup(targets: List<Target>, name: String? = null, member: (m: Int) -> KernelCall) {
    val calls = List(targets.size) { member(it) }
    val callable = calls.first().callable
    require(calls.all { it.callable == callable }) {
        "a group runs one kernel on every member, but the members call ${calls.map { it.callable }.distinct().joinToString()}"
    }
    submitGroup(targets, callable, calls.map { it.args }, name ?: calls.first().name)
}

/**
 * Submits a group task of [size] members on distinct sub workers ([target] is `sub`), member `m` running
 * [member]`(m)`:
 *
 * ```
 * object Mark : Kernel2<Tensor, Int>(Param.output, Param.int) {
 *     override fun run(ctx: TaskContext, a: Tensor, b: Int) = a.setInt(0, b)
 * }
 * worker { subWorkers(2) }.use { w ->
 *     val parts = w.hostTensor(DType.I32, 2)
 *     w.run { submitGroup(sub, 2) { m -> Mark(parts.slice(0, m.toLong(), m + 1L), 10 * m) } }
 *     check(parts.getInt(1) == 10)
 * }
 * ```
 */
public suspend fun Orchestrator.submitGroup(target: Target, size: Int, name: String? = null, member: (m: Int) -> KernelCall) {
    submitGroup(List(size) { target }, name, member)
}
