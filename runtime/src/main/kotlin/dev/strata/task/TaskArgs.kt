package dev.strata.task

import dev.strata.tensor.Tag
import dev.strata.tensor.Tensor

/** One tensor argument of a task and how the task uses it. */
public class TensorArg(public val tensor: Tensor, public val tag: Tag) {
    override fun toString(): String = "$tag $tensor"
}

/**
 * The arguments of one task (or one member of a group task): tensors with their [Tag]s, in order, and
 * 64-bit scalars. Immutable once built; build one with [TaskArgs.build] or [TaskArgs.Builder].
 */
public class TaskArgs private constructor(
    private val tensorArgs: Array<TensorArg>,
    private val scalarValues: LongArray,
) {
    /** The tensor arguments, in the order they were added. */
    public val tensors: List<TensorArg> get() = tensorArgs.asList()

    /** Number of tensor arguments. */
    public val tensorCount: Int get() = tensorArgs.size

    /** Number of scalar arguments. */
    public val scalarCount: Int get() = scalarValues.size

    /** The tensor at position [index]. */
    public fun tensor(index: Int): Tensor = tensorArgs[index].tensor

    /** The tensor argument (tensor and tag) at position [index]. */
    public fun arg(index: Int): TensorArg = tensorArgs[index]

    /** The scalar at position [index]. */
    public fun scalar(index: Int): Long = scalarValues[index]

    /** The same arguments with each tensor replaced by [f] of it (tags and scalars kept). */
    internal fun mapTensors(f: (Tensor) -> Tensor): TaskArgs =
        TaskArgs(Array(tensorArgs.size) { TensorArg(f(tensorArgs[it].tensor), tensorArgs[it].tag) }, scalarValues)

    override fun toString(): String =
        "TaskArgs(${tensorArgs.joinToString()}${if (scalarValues.isEmpty()) "" else ", scalars=" + scalarValues.contentToString()})"

    /** Collects tensor and scalar arguments in order. Not thread-safe. */
    @StrataDsl
    public class Builder {
        private val tensors = ArrayList<TensorArg>(4)
        private var scalars = LongArray(0)

        public fun add(tensor: Tensor, tag: Tag): Builder = apply { tensors += TensorArg(tensor, tag) }
        public fun input(tensor: Tensor): Builder = add(tensor, Tag.INPUT)
        public fun output(tensor: Tensor): Builder = add(tensor, Tag.OUTPUT)
        public fun inout(tensor: Tensor): Builder = add(tensor, Tag.INOUT)
        public fun outputExisting(tensor: Tensor): Builder = add(tensor, Tag.OUTPUT_EXISTING)
        public fun noDep(tensor: Tensor): Builder = add(tensor, Tag.NO_DEP)
        public fun scalar(value: Long): Builder = apply { scalars = scalars.copyOf(scalars.size + 1).also { it[scalars.size] = value } }
        public fun build(): TaskArgs = TaskArgs(tensors.toTypedArray(), scalars)
    }

    public companion object {
        /** No arguments. */
        @JvmField
        public val EMPTY: TaskArgs = TaskArgs(emptyArray(), LongArray(0))

        /** Builds arguments with [block]. */
        public inline fun build(block: Builder.() -> Unit): TaskArgs = Builder().apply(block).build()
    }
}
