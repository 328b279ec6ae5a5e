package dev.strata.java

import dev.strata.task.ScalarParameter
import dev.strata.task.TaskArgs
import dev.strata.tensor.Tensor

/**
 * The arguments of one task, built fluently from Java: tensors with how the task uses them, then
 * scalars, each kept in the order it was added (the task reads them as `ctx.tensor(i)` and
 * `ctx.scalar(i)`).
 *
 * ```java
 * p.submit(p.sub(), "scale", Args.of().input(a).output(b).scalar(3), new Scale());
 * ```
 *
 * Dependencies between tasks are inferred from these tags, so they must say what the task really does:
 * a task that writes a tensor declared as [input] races with its readers. Not thread-safe; an `Args` is
 * read when it is submitted, so it may be changed and submitted again afterwards.
 */
public class Args private constructor() {
    private val builder = TaskArgs.Builder()

    /** The task reads [tensor]. */
    public fun input(tensor: Tensor): Args = apply { builder.input(tensor) }

    /** The task writes new contents into [tensor] (it does not read the old ones). */
    public fun output(tensor: Tensor): Args = apply { builder.output(tensor) }

    /** The task reads, then writes [tensor]. */
    public fun inout(tensor: Tensor): Args = apply { builder.inout(tensor) }

    /** The task writes into [tensor], a caller-owned buffer that outlives the run. */
    public fun outputExisting(tensor: Tensor): Args = apply { builder.outputExisting(tensor) }

    /** The task uses [tensor] without dependency tracking: the caller orders it some other way. */
    public fun noDep(tensor: Tensor): Args = apply { builder.noDep(tensor) }

    /** A 64-bit scalar argument (an `int` widens to it). */
    public fun scalar(value: Long): Args = apply { builder.scalar(value) }

    /** A double scalar argument, passed as its IEEE bits: read it with `Double.longBitsToDouble(ctx.scalar(i))`. */
    public fun scalar(value: Double): Args = apply { builder.scalar(value.toRawBits()) }

    /** A scalar each replay of the graph being recorded binds ([JavaGraphBuilder.scalarParameter]); a run refuses it. */
    public fun scalar(parameter: ScalarParameter): Args = apply { builder.scalar(parameter) }

    /** The engine's immutable arguments as they are now. */
    public fun toTaskArgs(): TaskArgs = builder.build()

    override fun toString(): String = "Args(${toTaskArgs()})"

    public companion object {
        /** Empty arguments, to be filled fluently: `Args.of().input(a).output(b)`. */
        @JvmStatic
        public fun of(): Args = Args()
    }
}
