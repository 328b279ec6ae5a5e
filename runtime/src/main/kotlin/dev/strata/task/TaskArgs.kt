package dev.strata.task

import dev.strata.tensor.Buffer
import dev.strata.tensor.Tag
import dev.strata.tensor.Tensor

/**
 * A scalar argument whose value each replay of a recorded graph binds by [name] (made by
 * `GraphBuilder.scalarParameter`; pass it with [TaskArgs.Builder.scalar]). Valid only in the graph that made it.
 */
public class ScalarParameter internal constructor(
    /** The name a replay binds. */
    public val name: String,
    /** The recording that made it (checked when it is used). */
    internal val owner: Any,
    /** Its index among the graph's scalar parameters. */
    internal val index: Int,
) {
    override fun toString(): String = "ScalarParameter($name)"
}

/** One tensor argument of a task and how the task uses it. */
public class TensorArg(public val tensor: Tensor, public val tag: Tag) {
    override fun toString(): String = "$tag $tensor"
}

/**
 * The arguments of one task (or one member of a group task): tensors with their [Tag]s, in order, and
 * 64-bit scalars. Immutable once built; build one with [TaskArgs.build] or [TaskArgs.Builder].
 *
 * A graph replay's arguments are the recorded ones with the views of each parameter moved onto its
 * binding; that rebinding is lazy: it happens once, on whichever thread first reads a tensor (normally
 * the worker that runs the task), so the one thread that builds a run's DAG does not pay for it.
 */
public class TaskArgs private constructor(
    /** The tensors and scalars; both null for a rebound view (see [resolve]; scalars are the template's unless a replay bound some). */
    private val plain: Array<TensorArg>?,
    private val ownScalars: LongArray?,
    /** A rebound view: the recorded arguments, which of them to move (pairs position, binding index), onto what. */
    private val template: TaskArgs?,
    private val slots: IntArray?,
    private val rebinding: Rebinding?,
) {
    private constructor(tensorArgs: Array<TensorArg>, scalarValues: LongArray) : this(tensorArgs, scalarValues, null, null, null)

    /**
     * By scalar position: the graph [ScalarParameter] a recording put there (its value is bound at each
     * replay), else null; null altogether when there is none (always, outside a recording).
     */
    internal var scalarParameters: Array<ScalarParameter?>? = null
        private set

    /** Where a replay's parameters are bound, by parameter index: buffer and extra byte offset. */
    internal class Rebinding(val buffers: Array<Buffer>, val offsets: LongArray)

    @Volatile
    private var resolved: Array<TensorArg>? = null

    private val tensorArgs: Array<TensorArg> get() = plain ?: resolved ?: resolve()
    private val scalarValues: LongArray get() = ownScalars ?: template!!.scalarValues

    /** Builds the rebound tensors; racing threads build equal arrays and either may win (both immutable). */
    private fun resolve(): Array<TensorArg> {
        val out = template!!.tensorArgs.copyOf()
        val s = slots!!
        val r = rebinding!!
        var k = 0
        while (k < s.size) {
            val pos = s[k]
            val b = s[k + 1]
            val a = out[pos]
            out[pos] = TensorArg(a.tensor.rebased(r.buffers[b], r.offsets[b]), a.tag)
            k += 2
        }
        resolved = out
        return out
    }

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

    /**
     * These arguments with the tensors at the positions named in [slots] — pairs (position, binding
     * index) — moved onto `rebinding.buffers[index]` at `rebinding.offsets[index]` bytes more: a graph
     * replay's arguments. Nothing is read or built now (see the class comment).
     */
    internal fun rebound(slots: IntArray, rebinding: Rebinding): TaskArgs = TaskArgs(null, null, this, slots, rebinding)

    /**
     * These arguments (or their rebound view [tensorsFrom]) with the scalars at the positions named in
     * [slots] — pairs (position, value index) — set to `values[index]`: a replay's bound scalars.
     */
    internal fun withScalars(tensorsFrom: TaskArgs, slots: IntArray, values: LongArray): TaskArgs {
        val scalars = scalarValues.copyOf()
        var k = 0
        while (k < slots.size) {
            scalars[slots[k]] = values[slots[k + 1]]
            k += 2
        }
        return if (tensorsFrom === this) TaskArgs(tensorArgs, scalars) else TaskArgs(null, scalars, this, tensorsFrom.slots, tensorsFrom.rebinding)
    }

    override fun toString(): String =
        "TaskArgs(${tensorArgs.joinToString()}${if (scalarValues.isEmpty()) "" else ", scalars=" + scalarValues.contentToString()})"

    /** Collects tensor and scalar arguments in order. Not thread-safe. */
    @StrataDsl
    public class Builder {
        private val tensors = ArrayList<TensorArg>(4)
        private var scalars = LongArray(0)
        private var parameters: Array<ScalarParameter?>? = null

        public fun add(tensor: Tensor, tag: Tag): Builder = apply { tensors += TensorArg(tensor, tag) }
        public fun input(tensor: Tensor): Builder = add(tensor, Tag.INPUT)
        public fun output(tensor: Tensor): Builder = add(tensor, Tag.OUTPUT)
        public fun inout(tensor: Tensor): Builder = add(tensor, Tag.INOUT)
        public fun outputExisting(tensor: Tensor): Builder = add(tensor, Tag.OUTPUT_EXISTING)
        public fun noDep(tensor: Tensor): Builder = add(tensor, Tag.NO_DEP)
        public fun scalar(value: Long): Builder = apply { scalars = scalars.copyOf(scalars.size + 1).also { it[scalars.size] = value } }

        /**
         * A scalar that each replay of the graph being recorded binds ([ScalarParameter], from
         * `GraphBuilder.scalarParameter`). Only a recording accepts it: a run's submit refuses it.
         */
        public fun scalar(parameter: ScalarParameter): Builder = apply {
            val pos = scalars.size
            scalar(0L)
            parameters = (parameters ?: arrayOfNulls(pos + 1)).copyOf(pos + 1).also { it[pos] = parameter }
        }

        public fun build(): TaskArgs = TaskArgs(tensors.toTypedArray(), scalars).also { a ->
            parameters?.let { a.scalarParameters = it.copyOf(scalars.size) }
        }
    }

    public companion object {
        /** No arguments. */
        @JvmField
        public val EMPTY: TaskArgs = TaskArgs(emptyArray(), LongArray(0))

        /** Builds arguments with [block]. */
        public inline fun build(block: Builder.() -> Unit): TaskArgs = Builder().apply(block).build()
    }
}
