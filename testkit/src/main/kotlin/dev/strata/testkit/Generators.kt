package dev.strata.testkit

import dev.strata.task.Orchestrator
import dev.strata.task.TaskArgs
import dev.strata.task.TaskCallable
import dev.strata.task.Target
import dev.strata.tensor.DType
import dev.strata.tensor.Tag
import dev.strata.tensor.Tensor
import dev.strata.worker.Worker
import io.kotest.property.Arb
import io.kotest.property.arbitrary.arbitrary
import io.kotest.property.arbitrary.element
import io.kotest.property.arbitrary.int
import io.kotest.property.arbitrary.long
import java.lang.foreign.ValueLayout
import kotlin.random.Random

/**
 * A tensor to make: [dtype], row-major [shape], and the [seed] of its initial bytes. [allocate] makes the
 * same bytes every time, so a failing property run can be replayed from its printed value.
 */
public class TensorSpec(public val dtype: DType, shape: LongArray, public val seed: Long) {
    private val dims = shape.copyOf()

    /** The shape (a copy). */
    public val shape: LongArray get() = dims.copyOf()

    /** Number of elements. */
    public val elementCount: Long get() = dims.fold(1L) { a, b -> a * b }

    /** A host tensor on [worker] (shared with its child JVMs), holding this spec's initial bytes. */
    public fun allocate(worker: Worker, label: String = "arb"): Tensor {
        val t = worker.hostTensor(dtype, *dims, label = label)
        val bytes = ByteArray((elementCount * dtype.byteSize).toInt()).also { Random(seed).nextBytes(it) }
        java.lang.foreign.MemorySegment.copy(bytes, 0, t.asSegment(), ValueLayout.JAVA_BYTE, 0, bytes.size)
        return t
    }

    override fun toString(): String = "$dtype${dims.contentToString()} seed=$seed"
}

/**
 * A strided view of a tensor: dimension `d` keeps indices `from[d]`, `from[d] + step[d]`, … below `to[d]`.
 * [of] applies it to a tensor of the shape it was generated for.
 */
public class ViewSpec(from: LongArray, to: LongArray, step: LongArray) {
    private val lo = from.copyOf()
    private val hi = to.copyOf()
    private val st = step.copyOf()

    /** The view of [tensor] (a tensor of the shape this view was generated for). */
    public fun of(tensor: Tensor): Tensor {
        var t = tensor
        for (d in lo.indices) t = t.slice(d, lo[d], hi[d], st[d])
        return t
    }

    override fun toString(): String = lo.indices.joinToString(", ", "[", "]") { "${lo[it]}:${hi[it]}:${st[it]}" }
}

/**
 * One of the user's kernels, as a random program may call it: it reads [inputs] tensors (arguments
 * `0 until inputs`), then writes [outputs] tensors (the next ones, tagged [outputTag]), all 1-D views of the
 * program's dtype and of one length per task, and takes [scalars] scalars (random, 0..1000).
 */
public class KernelSpec(
    public val name: String,
    public val callable: TaskCallable,
    public val inputs: Int,
    public val outputs: Int,
    public val scalars: Int = 0,
    public val outputTag: Tag = Tag.OUTPUT,
) {
    init {
        require(inputs >= 0 && outputs >= 1) { "kernel '$name': needs at least one output and no negative inputs (inputs=$inputs, outputs=$outputs)" }
        require(outputTag.writes) { "kernel '$name': outputTag must be a tag that writes (OUTPUT, INOUT or OUTPUT_EXISTING), was $outputTag" }
    }

    override fun toString(): String = name
}

/** One argument of a [RandomTask]: elements `[from, to)` of the program's tensor [tensor], tagged [tag]. */
public data class ArgRef(val tensor: Int, val from: Long, val to: Long, val tag: Tag) {
    override fun toString(): String = "$tag t$tensor[$from:$to]"
}

/** One task of a [RandomProgram]: [kernel] with [args] and [scalars]. */
public class RandomTask(public val kernel: KernelSpec, public val args: List<ArgRef>, public val scalars: List<Long>) {
    override fun toString(): String = "${kernel.name}(${(args.map { it.toString() } + scalars.map { "$it" }).joinToString()})"
}

/**
 * A random program over the user's kernels: 1-D [tensors] of one dtype, and [tasks] submitted in order to
 * sub workers. Printed, it lists every task, so a failing property shows the program that failed.
 */
public class RandomProgram(public val tensors: List<TensorSpec>, public val tasks: List<RandomTask>) {
    /** Submits every task, in order, to [target] over [bound] (the program's tensors, in order). */
    public suspend fun submitTo(orchestrator: Orchestrator, bound: List<Tensor>, target: Target = Target.Sub) {
        require(bound.size == tensors.size) { "the program has ${tensors.size} tensors, ${bound.size} were given" }
        for ((i, task) in tasks.withIndex()) {
            val args = TaskArgs.build {
                for (a in task.args) add(bound[a.tensor].slice(0, a.from, a.to), a.tag)
                for (s in task.scalars) scalar(s)
            }
            orchestrator.submit(target, task.kernel.callable, args, "#$i ${task.kernel.name}")
        }
    }

    override fun toString(): String = buildString {
        append("RandomProgram(tensors: ${tensors.joinToString()})")
        for ((i, t) in tasks.withIndex()) append("\n  #$i $t")
    }
}

/** Kotest generators for Strata: tensors, views, and random programs over the user's own kernels. */
public object StrataArb {
    /** Any dtype. */
    public fun dtype(): Arb<DType> = Arb.element(DType.entries)

    /** Tensors of one of [dtypes], rank 1..[maxRank], each dimension 1..[maxDim], with seeded contents. */
    public fun tensor(dtypes: List<DType> = DType.entries, maxRank: Int = 3, maxDim: Int = 16): Arb<TensorSpec> = arbitrary { rs ->
        val rank = Arb.int(1..maxRank).bind()
        TensorSpec(Arb.element(dtypes).bind(), LongArray(rank) { Arb.long(1L..maxDim).bind() }, rs.random.nextLong())
    }

    /** Views of a tensor shaped like [tensor]: per dimension a non-empty range and a step of 1..3. */
    public fun view(tensor: TensorSpec): Arb<ViewSpec> = arbitrary {
        val shape = tensor.shape
        val from = LongArray(shape.size)
        val to = LongArray(shape.size)
        val step = LongArray(shape.size)
        for (d in shape.indices) {
            from[d] = Arb.long(0L until shape[d]).bind()
            to[d] = Arb.long(from[d] + 1..shape[d]).bind()
            step[d] = Arb.long(1L..3L).bind()
        }
        ViewSpec(from, to, step)
    }

    /**
     * Programs of [tasks] tasks over [tensors] 1-D tensors of [dtype] (each [length] elements): every task
     * calls one of [kernels] on views of one random length, each view of a random tensor at a random
     * offset, so views overlap, alias and repeat — what dependency inference must get right.
     */
    public fun program(
        kernels: List<KernelSpec>,
        dtype: DType = DType.I32,
        tensors: IntRange = 1..4,
        length: IntRange = 8..256,
        tasks: IntRange = 1..32,
    ): Arb<RandomProgram> {
        require(kernels.isNotEmpty()) { "no kernels: name at least one KernelSpec" }
        return arbitrary { rs ->
            val r = rs.random
            fun pick(range: IntRange): Int = r.nextInt(range.first, range.last + 1)
            val specs = List(pick(tensors)) { TensorSpec(dtype, longArrayOf(pick(length).toLong()), r.nextLong()) }
            val shortest = specs.minOf { it.elementCount }
            val taskList = List(pick(tasks)) {
                val k = kernels[r.nextInt(kernels.size)]
                // Short enough that the outputs always fit side by side: a task's writes must not overlap.
                val n = r.nextLong(1L, maxOf(1L, shortest / k.outputs) + 1)
                fun arg(tag: Tag): ArgRef {
                    val t = r.nextInt(specs.size)
                    val from = r.nextLong(0L, specs[t].elementCount - n + 1)
                    return ArgRef(t, from, from + n, tag)
                }
                var outputs = ArrayList<ArgRef>(k.outputs)
                for (j in 0 until k.outputs) {
                    val free = (1..32).asSequence().map { arg(k.outputTag) }.firstOrNull { a ->
                        outputs.none { o -> o.tensor == a.tensor && o.from < a.to && a.from < o.to }
                    }
                    if (free == null) { // no room found at random: side by side in tensor 0 (n · outputs fits)
                        outputs = ArrayList(List(k.outputs) { ArgRef(0, it * n, (it + 1) * n, k.outputTag) })
                        break
                    }
                    outputs += free
                }
                RandomTask(k, List(k.inputs) { arg(Tag.INPUT) } + outputs, List(k.scalars) { r.nextLong(0L, 1001L) })
            }
            RandomProgram(specs, taskList)
        }
    }
}
