package dev.strata.worker

import dev.strata.error.InvalidSubmitException
import dev.strata.task.Orchestrator
import dev.strata.run.RunHandle
import dev.strata.task.TaskArgs
import dev.strata.task.TaskCallable
import dev.strata.task.TaskContext
import dev.strata.task.Target
import dev.strata.tensor.Access
import dev.strata.tensor.Buffer
import dev.strata.tensor.DType
import dev.strata.tensor.Tag
import dev.strata.tensor.Tensor
import io.kotest.assertions.fail
import io.kotest.core.spec.style.FunSpec
import io.kotest.matchers.comparables.shouldBeGreaterThan
import io.kotest.property.Arb
import io.kotest.property.PropTestConfig
import io.kotest.property.ShrinkingMode
import io.kotest.property.arbitrary.long
import io.kotest.property.checkAll
import java.lang.foreign.MemorySegment
import java.lang.foreign.ValueLayout
import java.util.BitSet
import java.util.concurrent.atomic.AtomicInteger
import java.util.concurrent.atomic.AtomicLong
import java.util.concurrent.locks.LockSupport
import kotlin.random.Random
import kotlin.time.Duration.Companion.microseconds
import kotlin.time.Duration.Companion.milliseconds
import kotlin.time.Duration.Companion.minutes
import kotlin.time.Duration.Companion.seconds

/*
 * DESIGN.md §11, the key property: random programs of submits over random overlapping views, run on
 * several workers, leave exactly the bytes that running the same tasks one by one in submission order
 * leaves.
 *
 * A program is pure data generated from one seed: host buffers, then one to three runs, each a tree of
 * single submits, group submits, nested scopes and scope allocations. Each task computes a deterministic
 * function of every byte it reads into every byte it writes, so any reordering that changes what a task
 * reads, or which write lands last, changes the final bytes. The same task function runs against plain
 * byte arrays, in submission order, for the reference.
 *
 * Reproduce one program with -Dstrata.serializability.seed=<seed printed in the failure>; explore more with
 * -Dstrata.serializability.programs=<count> and -Dstrata.serializability.baseSeed=<any long>.
 */

// --- program model ------------------------------------------------------------------------------

/** Which memory an argument views. */
private sealed interface BufRef {
    /** A caller-owned host buffer that tasks read and write with tracked tags. */
    data class Host(val index: Int) : BufRef

    /** A read-only buffer no task writes: read through INPUT or (untracked) NO_DEP. */
    data object Const : BufRef

    /** A buffer that exactly one task in the whole program uses, writing it through NO_DEP. */
    data class Private(val index: Int) : BufRef

    /** Bytes from `alloc` in an enclosing scope of the same run. */
    data class Alloc(val id: Int) : BufRef
}

/** One tensor argument: a strided view (byte offset, shape and strides in elements) and its tag. */
private data class ArgSpec(
    val buf: BufRef,
    val byteOffset: Long,
    val shape: LongArray,
    val strides: LongArray,
    val dtype: DType,
    val tag: Tag,
    /** For NO_DEP arguments: the task writes it (a private buffer) instead of reading it. */
    val noDepWrite: Boolean = false,
) {
    val es: Int get() = dtype.byteSize
    val reads: Boolean get() = tag.reads || (tag == Tag.NO_DEP && !noDepWrite)
    val writes: Boolean get() = tag.writes || (tag == Tag.NO_DEP && noDepWrite)

    fun bytes(): BitSet {
        val set = BitSet()
        forEachElement(shape, strides) { rel -> val o = (byteOffset + rel * es).toInt(); set.set(o, o + es) }
        return set
    }

    override fun toString(): String {
        val flag = if (tag == Tag.NO_DEP) (if (noDepWrite) "(w)" else "(r)") else ""
        return "$tag$flag $buf[off=$byteOffset shape=${shape.contentToString()} strides=${strides.contentToString()} $dtype]"
    }
}

/** How a task delays itself so that reorderings actually happen. */
private data class Jitter(val where: Int, val nanos: Long) {
    companion object {
        const val NONE = 0
        const val BEFORE_READS = 1
        const val BETWEEN_READ_AND_WRITE = 2
        const val YIELD = 3
    }
}

private sealed interface Op

/** A single task (one member) or a group task (several members), [index] unique in the program. */
private data class TaskOp(
    val index: Int,
    val targets: List<Target>,
    val members: List<List<ArgSpec>>,
    val jitter: List<Jitter>,
    /** Why validation must reject it, or null for a valid submit. */
    val invalidBecause: String?,
) : Op {
    val isGroup: Boolean get() = members.size > 1
}

private data class AllocOp(val id: Int, val bytes: Int) : Op
private data class ScopeOp(val ops: List<Op>) : Op

private class Program(
    val seed: Long,
    val subWorkers: Int,
    val nextLevel: Int,
    val spinMicros: Long,
    val taskWindow: Int,
    val heapRingBytes: Long,
    val hostInit: List<ByteArray>,
    val constInit: ByteArray,
    val privateSizes: List<Int>,
    val runs: List<List<Op>>,
) {
    fun describe(): String = buildString {
        append("seed=$seed subWorkers=$subWorkers nextLevel=$nextLevel spin=${spinMicros}us taskWindow=$taskWindow ")
        append("heapRingBytes=$heapRingBytes\n")
        append("host buffers: ${hostInit.map { it.size }}, const: ${constInit.size} B, private: $privateSizes\n")
        for ((r, ops) in runs.withIndex()) {
            append("run $r:\n")
            dump(ops, "  ")
        }
    }

    private fun StringBuilder.dump(ops: List<Op>, indent: String) {
        for (op in ops) when (op) {
            is AllocOp -> append("${indent}alloc#${op.id} ${op.bytes} B\n")
            is ScopeOp -> {
                append("${indent}scope {\n")
                dump(op.ops, "$indent  ")
                append("$indent}\n")
            }
            is TaskOp -> {
                append("${indent}task#${op.index} -> ${op.targets}")
                op.invalidBecause?.let { append(" [INVALID: $it]") }
                append("\n")
                for ((m, args) in op.members.withIndex()) {
                    val j = op.jitter[m]
                    append("$indent    member $m (jitter ${j.where}/${j.nanos}ns): ${args.joinToString()}\n")
                }
            }
        }
    }
}

// --- the task function, shared by the engine and the reference -----------------------------------

private inline fun forEachElement(shape: LongArray, strides: LongArray, action: (Long) -> Unit) {
    val n = shape.fold(1L) { acc, s -> acc * s }
    val idx = LongArray(shape.size)
    for (flat in 0 until n) {
        var rest = flat
        var rel = 0L
        for (d in shape.indices.reversed()) {
            idx[d] = rest % shape[d]
            rest /= shape[d]
            rel += idx[d] * strides[d]
        }
        action(rel)
    }
}

/** Byte memory behind one argument. */
private interface Mem {
    operator fun get(offset: Long): Int
    operator fun set(offset: Long, value: Int)
}

private class SegmentMem(private val seg: MemorySegment) : Mem {
    override fun get(offset: Long): Int = seg.get(ValueLayout.JAVA_BYTE, offset).toInt() and 0xFF
    override fun set(offset: Long, value: Int) = seg.set(ValueLayout.JAVA_BYTE, offset, value.toByte())
}

private class ArrayMem(val bytes: ByteArray) : Mem {
    override fun get(offset: Long): Int = bytes[offset.toInt()].toInt() and 0xFF
    override fun set(offset: Long, value: Int) {
        bytes[offset.toInt()] = value.toByte()
    }
}

/** One argument as the task function sees it, from a live [Tensor] or from an [ArgSpec]. */
private class ArgView(
    val mem: Mem,
    val byteOffset: Long,
    val shape: LongArray,
    val strides: LongArray,
    val es: Int,
    val reads: Boolean,
    val writes: Boolean,
)

/**
 * The work of one task member: hash every byte it reads (in argument order, then row-major element
 * order), then write every byte of every written view from that hash. INOUT reads before it writes.
 */
private fun taskBody(salt: Long, args: List<ArgView>, betweenReadAndWrite: () -> Unit) {
    var h = salt * 0x9E3779B97F4A7C15uL.toLong()
    for (a in args) {
        if (!a.reads) continue
        forEachElement(a.shape, a.strides) { rel ->
            val off = a.byteOffset + rel * a.es
            for (b in 0 until a.es) h = (h xor (a.mem[off + b] + 1L)) * 0x100000001B3L
        }
    }
    betweenReadAndWrite()
    for ((i, a) in args.withIndex()) {
        if (!a.writes) continue
        var k = 0L
        forEachElement(a.shape, a.strides) { rel ->
            val off = a.byteOffset + rel * a.es
            for (b in 0 until a.es) {
                val v = (h + i * 0x51L + k * 0x2F) * 0x2545F4914F6CDD1DL
                a.mem[off + b] = (v ushr 56).toInt() and 0xFF
                k++
            }
        }
    }
}

/** Scalars of every member: 0 = salt, 1 = mask of NO_DEP arguments it writes, 2 = jitter kind, 3 = jitter ns. */
private fun saltOf(task: Int, member: Int): Long = task * 8L + member

private class EngineStats {
    val running = AtomicInteger()
    val maxRunning = AtomicInteger()
    val started = AtomicLong()
    /** Tasks that started before a task submitted earlier than them had started. */
    val overtakes = AtomicLong()
    val highestStarted = AtomicLong(-1)
}

/**
 * The callable of programs run on child processes: [EngineTask] without the in-process statistics (it
 * runs in another JVM, found there by name).
 */
internal object ProcessEngineTask : TaskCallable {
    private val stats = EngineStats()
    override fun call(context: TaskContext) = EngineTask(stats).call(context)
}

/** The callable every task runs on the engine: it reads its geometry from the dispatched arguments. */
private class EngineTask(private val stats: EngineStats) : TaskCallable {
    override fun call(context: TaskContext) {
        val args = context.args
        val salt = args.scalar(0)
        val noDepWrites = args.scalar(1)
        val jitterWhere = args.scalar(2).toInt()
        val jitterNanos = args.scalar(3)
        val now = stats.running.incrementAndGet()
        stats.maxRunning.accumulateAndGet(now) { a, b -> maxOf(a, b) }
        stats.started.incrementAndGet()
        val order = salt / 8
        if (stats.highestStarted.getAndAccumulate(order) { a, b -> maxOf(a, b) } > order) stats.overtakes.incrementAndGet()
        try {
            when (jitterWhere) {
                Jitter.BEFORE_READS -> LockSupport.parkNanos(jitterNanos)
                Jitter.YIELD -> Thread.yield()
            }
            val views = (0 until args.tensorCount).map { i ->
                val arg = args.arg(i)
                val t = arg.tensor
                val noDepWrite = arg.tag == Tag.NO_DEP && (noDepWrites ushr i) and 1L == 1L
                ArgView(
                    SegmentMem(t.buffer.segment!!), t.byteOffset, t.shape, t.strides, t.dtype.byteSize,
                    reads = arg.tag.reads || (arg.tag == Tag.NO_DEP && !noDepWrite),
                    writes = arg.tag.writes || noDepWrite,
                )
            }
            taskBody(salt, views) {
                if (jitterWhere == Jitter.BETWEEN_READ_AND_WRITE) LockSupport.parkNanos(jitterNanos)
            }
        } finally {
            stats.running.decrementAndGet()
        }
    }
}

// --- generation -----------------------------------------------------------------------------------

private class Generator(seed: Long, private val forceNext: Boolean = false) {
    private val r = Random(seed)

    /**
     * Host views used so far: with remote nodes ([forceNext]) a third of the arguments reuse one exactly, so
     * results that nodes keep are read again where they are, by other nodes and by local tasks.
     */
    private val recent = ArrayList<ArgSpec>()
    private val seed0 = seed
    private var taskIndex = 0
    private var allocId = 0
    private var privateUsed = 0

    val subWorkers = r.nextInt(1, 5)
    val nextLevel = if (r.nextInt(3) == 0 || forceNext) r.nextInt(1, 3) else 0
    private val hostSizes = List(r.nextInt(1, 5)) { if (r.nextBoolean()) r.nextInt(16, 65) else r.nextInt(16, 257) }
    private val constSize = r.nextInt(8, 65)
    private val privateSizes = List(r.nextInt(0, 3)) { r.nextInt(8, 33) }

    /** Sizes of the allocations visible at the current point of generation (enclosing scopes). */
    private val visibleAllocs = ArrayList<Pair<Int, Int>>()
    private val allocBytesPerRing = ArrayList<LongArray>()

    fun program(): Program {
        val nRuns = when (r.nextInt(6)) { 0 -> 3; 1, 2 -> 2; else -> 1 }
        val runs = ArrayList<List<Op>>()
        val opsPerRun = ArrayList<Int>()
        repeat(nRuns) {
            allocBytesPerRing += LongArray(4)
            visibleAllocs.clear()
            val counter = IntArray(1)
            runs += ops(depth = 0, budget = r.nextInt(4, 30), counter = counter)
            opsPerRun += counter[0]
        }
        // Back-pressure settings that can make submit and alloc wait but never deadlock: a run needs at
        // most its own slots and ring bytes while it builds (the previous run's are released as it ends).
        val maxOps = opsPerRun.max()
        val taskWindow = if (r.nextBoolean()) 16_384 else maxOps + 1 + r.nextInt(0, 4)
        val maxRing = allocBytesPerRing.maxOf { it.max() }
        val heapRingBytes = if (r.nextBoolean()) 64L * 1024 else maxOf(256L, 2 * maxRing + 256)
        return Program(
            seed = seed0,
            subWorkers = subWorkers,
            nextLevel = nextLevel,
            spinMicros = listOf(0L, 5L, 50L)[r.nextInt(3)],
            taskWindow = taskWindow,
            heapRingBytes = heapRingBytes,
            hostInit = hostSizes.map { r.nextBytes(it) },
            constInit = r.nextBytes(constSize),
            privateSizes = privateSizes,
            runs = runs,
        )
    }

    /** [counter] counts slot-taking ops (valid tasks and allocs) of the run. */
    private fun ops(depth: Int, budget: Int, counter: IntArray): List<Op> {
        val out = ArrayList<Op>()
        val visibleBefore = visibleAllocs.size
        var left = budget
        while (left > 0) {
            val roll = r.nextInt(100)
            when {
                roll < 8 && depth < 4 -> {
                    val inner = r.nextInt(1, minOf(left, 10) + 1)
                    out += ScopeOp(ops(depth + 1, inner, counter))
                    left -= inner
                }
                roll < 16 -> {
                    val bytes = r.nextInt(1, 97)
                    val id = ++allocId
                    out += AllocOp(id, bytes)
                    visibleAllocs += id to bytes
                    allocBytesPerRing.last()[minOf(depth, 3)] += ((bytes + 63) / 64) * 64L
                    counter[0]++
                    left--
                }
                else -> {
                    val t = task()
                    out += t
                    if (t.invalidBecause == null) counter[0]++
                    left--
                }
            }
        }
        while (visibleAllocs.size > visibleBefore) visibleAllocs.removeAt(visibleAllocs.lastIndex)
        return out
    }

    private fun sizeOf(ref: BufRef): Int = when (ref) {
        is BufRef.Host -> hostSizes[ref.index]
        BufRef.Const -> constSize
        is BufRef.Private -> privateSizes[ref.index]
        is BufRef.Alloc -> visibleAllocs.first { it.first == ref.id }.second
    }

    private fun task(): TaskOp {
        val index = ++taskIndex
        val invalidRoll = r.nextInt(100)
        val group = r.nextInt(100) < 25
        val onNext = nextLevel > 0 && r.nextInt(3) == 0
        val size = if (!group) 1 else r.nextInt(2, 4)
        val targets: List<Target> = if (onNext) {
            (0 until nextLevel).shuffled(r).take(size).map { Target.Next(it) }
        } else {
            List(size) { Target.Sub }
        }
        if (group && targets.size < size) {
            // Not enough next-level children for distinct targets: make it a sub group instead.
            return task(index, List(size) { Target.Sub }, invalidRoll)
        }
        return task(index, targets, invalidRoll)
    }

    private fun task(index: Int, targets: List<Target>, invalidRoll: Int): TaskOp {
        val size = targets.size
        val jitter = List(size) {
            when (r.nextInt(10)) {
                0, 1 -> Jitter(Jitter.BEFORE_READS, r.nextLong(5_000, 200_000))
                2, 3 -> Jitter(Jitter.BETWEEN_READ_AND_WRITE, r.nextLong(5_000, 200_000))
                4 -> Jitter(Jitter.YIELD, 0)
                else -> Jitter(Jitter.NONE, 0)
            }
        }
        val poolTooSmall = size > 1 && targets[0] == Target.Sub && size > subWorkers
        // About one submit in twenty is deliberately invalid; validation must reject it.
        if (invalidRoll < 5 && !poolTooSmall) {
            val kind = r.nextInt(3)
            val members = List(size) { validMemberArgs(emptyList(), emptyList(), allowPrivate = false) }.toMutableList()
            val why: String
            when (kind) {
                0 -> { // two writes over the same bytes, in one member or in two members of a group
                    val v = view(hostRef(), nonEmpty = true)
                    val other = if (size > 1 && r.nextBoolean()) 1 else 0
                    members[0] = members[0] + v.copy(tag = Tag.OUTPUT)
                    members[other] = members[other] + v.copy(tag = Tag.INOUT)
                    why = if (other == 0) "overlapping writes in one task" else "overlapping writes of two group members"
                }
                1 -> { // a view that leaves its buffer
                    val ref = hostRef()
                    val v = view(ref, nonEmpty = true)
                    members[0] = members[0] + v.copy(byteOffset = sizeOf(ref).toLong() + r.nextInt(0, 8), tag = Tag.INPUT)
                    why = "view out of bounds"
                }
                else -> { // a write into the read-only buffer
                    members[0] = members[0] + view(BufRef.Const, nonEmpty = false).copy(tag = Tag.OUTPUT)
                    why = "write to a read-only buffer"
                }
            }
            return TaskOp(index, targets, members, jitter, why)
        }
        if (poolTooSmall) {
            val members = List(size) { validMemberArgs(emptyList(), emptyList(), allowPrivate = false) }
            return TaskOp(index, targets, members, jitter, "group of $size on a pool of $subWorkers")
        }
        // Valid: member writes are pairwise disjoint, and no member reads what another member writes
        // (members run at once, so that would be a race the engine is not asked to order).
        val members = ArrayList<List<ArgSpec>>()
        val writesSoFar = ArrayList<Pair<BufRef, BitSet>>()
        val readsSoFar = ArrayList<Pair<BufRef, BitSet>>()
        repeat(size) {
            val m = validMemberArgs(writesSoFar, readsSoFar, allowPrivate = true)
            members += m
            for (a in m) {
                if (a.writes) writesSoFar += a.buf to a.bytes()
                if (a.reads) readsSoFar += a.buf to a.bytes()
            }
        }
        return TaskOp(index, targets, members, jitter, null)
    }

    private fun hostRef(): BufRef = BufRef.Host(r.nextInt(hostSizes.size))

    private fun trackedRef(): BufRef {
        if (visibleAllocs.isNotEmpty() && r.nextInt(3) == 0) return BufRef.Alloc(visibleAllocs[r.nextInt(visibleAllocs.size)].first)
        return hostRef()
    }

    private fun conflicts(ref: BufRef, bytes: BitSet, others: List<Pair<BufRef, BitSet>>): Boolean =
        others.any { (o, b) -> o == ref && b.intersects(bytes) }

    /**
     * Arguments of one member. Its own writes are pairwise disjoint; its writes avoid [otherWrites] and
     * [otherReads] of earlier members, its reads avoid [otherWrites].
     */
    private fun validMemberArgs(
        otherWrites: List<Pair<BufRef, BitSet>>,
        otherReads: List<Pair<BufRef, BitSet>>,
        allowPrivate: Boolean,
    ): List<ArgSpec> {
        val args = ArrayList<ArgSpec>()
        val myWrites = ArrayList<Pair<BufRef, BitSet>>()
        val n = r.nextInt(0, 5)
        repeat(n) {
            for (attempt in 0 until 20) {
                val tag = when (r.nextInt(10)) {
                    0, 1, 2, 3 -> Tag.INPUT
                    4, 5 -> Tag.OUTPUT
                    6, 7 -> Tag.INOUT
                    else -> Tag.OUTPUT_EXISTING
                }
                val reused = if (forceNext && recent.isNotEmpty() && r.nextInt(3) == 0) recent[r.nextInt(recent.size)] else null
                val ref = reused?.buf ?: trackedRef()
                val v = (reused ?: view(ref, nonEmpty = false)).copy(tag = tag)
                val bytes = v.bytes()
                val ok = if (tag.writes) {
                    !conflicts(ref, bytes, myWrites) && !conflicts(ref, bytes, otherWrites) && !conflicts(ref, bytes, otherReads)
                } else {
                    !conflicts(ref, bytes, otherWrites)
                }
                if (ok) {
                    args += v
                    if (forceNext && ref is BufRef.Host && reused == null) recent += v
                    if (tag.writes) myWrites += ref to bytes
                    break
                }
            }
        }
        // Untracked arguments where they cannot race: reads of the constant buffer, and writes of a
        // private buffer that no other task ever touches.
        if (r.nextInt(4) == 0) args += view(BufRef.Const, nonEmpty = false).copy(tag = if (r.nextBoolean()) Tag.NO_DEP else Tag.INPUT)
        if (allowPrivate && privateUsed < privateSizes.size && r.nextInt(4) == 0) {
            args += view(BufRef.Private(privateUsed++), nonEmpty = true).copy(tag = Tag.NO_DEP, noDepWrite = true)
        }
        args.shuffle(r)
        return args
    }

    /** A random in-bounds view of [ref]: contiguous slices, strided slices, 2-D tiles (maybe transposed), odd strides. */
    private fun view(ref: BufRef, nonEmpty: Boolean): ArgSpec {
        val size = sizeOf(ref).toLong()
        while (true) {
            val dtype = when (r.nextInt(10)) {
                0 -> DType.I16
                1 -> DType.I32
                2 -> DType.I64
                else -> DType.U8
            }
            val es = dtype.byteSize.toLong()
            val elems = size / es
            if (elems < 1) continue
            var shape: LongArray
            var strides: LongArray
            when (r.nextInt(6)) {
                0 -> { // contiguous slice, maybe empty
                    shape = longArrayOf(r.nextLong(if (nonEmpty) 1 else 0, minOf(elems, 24) + 1))
                    strides = longArrayOf(1)
                }
                1 -> { // every step-th element
                    val step = r.nextLong(2, 5)
                    shape = longArrayOf(r.nextLong(1, maxOf(1, elems / step) + 1))
                    strides = longArrayOf(step)
                }
                2, 3 -> { // a tile of the buffer seen as a matrix with `cols` columns, maybe transposed
                    if (elems < 2) continue
                    val cols = r.nextLong(2, minOf(elems, 16) + 1)
                    val rows = elems / cols
                    if (rows < 1) continue
                    val nr = r.nextLong(1, minOf(rows, 6) + 1)
                    val nc = r.nextLong(1, minOf(cols, 6) + 1)
                    val r0 = r.nextLong(0, rows - nr + 1)
                    val c0 = r.nextLong(0, cols - nc + 1)
                    val off = (r0 * cols + c0) * es
                    return if (r.nextInt(3) == 0) {
                        ArgSpec(ref, off, longArrayOf(nc, nr), longArrayOf(1, cols), dtype, Tag.INPUT)
                    } else {
                        ArgSpec(ref, off, longArrayOf(nr, nc), longArrayOf(cols, 1), dtype, Tag.INPUT)
                    }
                }
                4 -> { // arbitrary 2-D strides, zero and overlapping ones included
                    shape = longArrayOf(r.nextLong(1, 5), r.nextLong(1, 5))
                    strides = longArrayOf(r.nextLong(0, 9), r.nextLong(0, 4))
                }
                else -> { // a scalar
                    shape = longArrayOf()
                    strides = longArrayOf()
                }
            }
            val span = (shape.indices.sumOf { d -> if (shape[d] == 0L) 0L else (shape[d] - 1) * strides[d] } + 1) * es
            if (span > size) continue
            // Element-aligned most of the time, any byte offset now and then.
            val maxOff = size - span
            val off = if (r.nextInt(4) == 0) r.nextLong(0, maxOff + 1) else r.nextLong(0, maxOff / es + 1) * es
            return ArgSpec(ref, off, shape, strides, dtype, Tag.INPUT)
        }
    }
}

// --- execution ------------------------------------------------------------------------------------

private class Outcome(
    val host: List<ByteArray>,
    val constant: ByteArray,
    val privates: List<ByteArray>,
    /** Indices of invalid tasks that validation rejected. */
    val rejected: Set<Int>,
)

/** Runs [p] sequentially on byte arrays: the meaning the engine must reproduce. */
private fun reference(p: Program): Outcome {
    val host = p.hostInit.map { ArrayMem(it.copyOf()) }
    val constant = ArrayMem(p.constInit.copyOf())
    val privates = p.privateSizes.map { ArrayMem(ByteArray(it)) }
    val rejected = HashSet<Int>()
    for (run in p.runs) {
        val allocs = HashMap<Int, ArrayMem>()
        fun exec(ops: List<Op>) {
            for (op in ops) when (op) {
                is AllocOp -> allocs[op.id] = ArrayMem(ByteArray(op.bytes))
                is ScopeOp -> exec(op.ops)
                is TaskOp -> {
                    if (op.invalidBecause != null) {
                        rejected += op.index
                        continue
                    }
                    // Members of a group run at once; with no conflicts between them any order is theirs.
                    for ((m, args) in op.members.withIndex()) {
                        val views = args.map { a ->
                            val mem = when (val b = a.buf) {
                                is BufRef.Host -> host[b.index]
                                BufRef.Const -> constant
                                is BufRef.Private -> privates[b.index]
                                is BufRef.Alloc -> allocs.getValue(b.id)
                            }
                            ArgView(mem, a.byteOffset, a.shape, a.strides, a.es, a.reads, a.writes)
                        }
                        taskBody(saltOf(op.index, m), views) { }
                    }
                }
            }
        }
        exec(run)
    }
    return Outcome(host.map { it.bytes }, constant.bytes, privates.map { it.bytes }, rejected)
}

private fun Buffer.bytes(): ByteArray = segment!!.asSlice(0, byteSize).toArray(ValueLayout.JAVA_BYTE)

/**
 * Runs [p] on a fresh worker (its children in child JVMs with [processes]; its next-level children remote
 * nodes behind [dev.strata.remote.LoopbackLink]s with [remote]); returns the final bytes.
 */
private fun engine(p: Program, stats: EngineStats, processes: Boolean = false, remote: Boolean = false): Outcome {
    val isolation = if (processes) Isolation.PROCESS else Isolation.THREAD
    val config = WorkerConfig(
        subIsolation = isolation,
        nextIsolation = isolation,
        subWorkers = p.subWorkers,
        nextLevel = List(p.nextLevel) {
            if (remote) NextLevelChild.Remote(dev.strata.remote.LoopbackLink(level = 2).also { l -> RemoteHolding.links.get() += l }) else NextLevelChild.Plain
        },
        taskWindow = p.taskWindow,
        heapRingBytes = p.heapRingBytes,
        spin = p.spinMicros.microseconds,
        backPressureTimeout = 20.seconds,
        closeTimeout = 2.seconds,
    )
    Worker(config).use { worker ->
    val host = p.hostInit.mapIndexed { i, init ->
        worker.memory.hostBuffer(init.size.toLong(), "host$i", Access.READ_WRITE).also { it.segment!!.copyFrom(MemorySegment.ofArray(init)) }
    }
    val constant = worker.memory.hostBuffer(p.constInit.size.toLong(), "const", Access.READ_ONLY).also {
        it.segment!!.copyFrom(MemorySegment.ofArray(p.constInit))
    }
    val privates = p.privateSizes.mapIndexed { i, n -> worker.memory.hostBuffer(n.toLong(), "private$i", Access.READ_WRITE) }
    val rejected = java.util.concurrent.ConcurrentHashMap.newKeySet<Int>()
    val callable = if (processes || remote) ProcessEngineTask else EngineTask(stats)

        val handles = ArrayList<RunHandle>()
        for (run in p.runs) {
            handles += worker.submit {
                val allocs = HashMap<Int, Tensor>()

                fun tensorOf(a: ArgSpec): Tensor {
                    val buffer = when (val b = a.buf) {
                        is BufRef.Host -> host[b.index]
                        BufRef.Const -> constant
                        is BufRef.Private -> privates[b.index]
                        is BufRef.Alloc -> allocs.getValue(b.id).buffer
                    }
                    return Tensor(buffer, a.byteOffset, a.shape.copyOf(), a.strides.copyOf(), a.dtype)
                }

                suspend fun Orchestrator.exec(ops: List<Op>) {
                    for (op in ops) when (op) {
                        is AllocOp -> allocs[op.id] = alloc(DType.U8, op.bytes.toLong())
                        is ScopeOp -> scope { exec(op.ops) }
                        is TaskOp -> {
                            val members = op.members.mapIndexed { m, args ->
                                TaskArgs.build {
                                    var noDepWrites = 0L
                                    for ((i, a) in args.withIndex()) {
                                        add(tensorOf(a), a.tag)
                                        if (a.noDepWrite) noDepWrites = noDepWrites or (1L shl i)
                                    }
                                    scalar(saltOf(op.index, m))
                                    scalar(noDepWrites)
                                    scalar(op.jitter[m].where.toLong())
                                    scalar(op.jitter[m].nanos)
                                }
                            }
                            try {
                                if (op.isGroup) {
                                    submitGroup(op.targets, callable, members, "task#${op.index}")
                                } else {
                                    submit(op.targets[0], callable, members[0], "task#${op.index}")
                                }
                            } catch (e: InvalidSubmitException) {
                                if (op.invalidBecause == null) throw AssertionError("valid task#${op.index} rejected: ${e.message}", e)
                                rejected += op.index
                            }
                        }
                    }
                }
                exec(run)
            }
        }
        try {
            for (h in handles) h.result(if (processes) 30.seconds else 2.minutes)
        } catch (e: dev.strata.error.RunTimeoutException) {
            throw AssertionError("$e; children: " + worker.children.processes?.endpoints?.joinToString("\n  ", prefix = "\n  ") { it.describe() }, e)
        }
    RemoteHolding.collect()
    return Outcome(host.map { it.bytes() }, constant.bytes(), privates.map { it.bytes() }, rejected)
    }
}

/** The first differences between [expected] and [actual], or null when they agree. */
private fun compare(expected: Outcome, actual: Outcome): String? {
    val problems = ArrayList<String>()
    fun bytes(name: String, e: ByteArray, a: ByteArray) {
        val diff = e.indices.filter { e[it] != a[it] }
        if (diff.isNotEmpty()) {
            problems += "$name differs at ${diff.size} byte(s), first ${diff.take(8).map { "[$it] expected ${e[it].toInt() and 0xFF} got ${a[it].toInt() and 0xFF}" }}"
        }
    }
    for (i in expected.host.indices) bytes("host$i", expected.host[i], actual.host[i])
    bytes("const", expected.constant, actual.constant)
    for (i in expected.privates.indices) bytes("private$i", expected.privates[i], actual.privates[i])
    if (expected.rejected != actual.rejected) {
        problems += "rejected submits: expected ${expected.rejected.sorted()} got ${actual.rejected.sorted()}"
    }
    return if (problems.isEmpty()) null else problems.joinToString("\n")
}

private fun checkProgram(seed: Long, stats: EngineStats, processes: Boolean = false, remote: Boolean = false): Program {
    val program = Generator(seed, forceNext = remote).program()
    val expected = reference(program)
    val actual = try {
        engine(program, stats, processes, remote)
    } catch (e: Throwable) {
        throw AssertionError("program failed on the engine: $e\n${program.describe()}", e)
    }
    compare(expected, actual)?.let { fail("engine result differs from sequential execution:\n$it\n${program.describe()}") }
    return program
}

/** Tasks of [p] (every run, nested scopes included) for which [which] holds. */
private fun countTasks(p: Program, which: (TaskOp) -> Boolean): Int {
    fun count(ops: List<Op>): Int = ops.sumOf { op ->
        when (op) {
            is AllocOp -> 0
            is ScopeOp -> count(op.ops)
            is TaskOp -> if (which(op)) 1 else 0
        }
    }
    return p.runs.sumOf(::count)
}

class SerializabilitySpec : FunSpec({
    val singleSeed = System.getProperty("strata.serializability.seed")?.toLong()
    val programs = System.getProperty("strata.serializability.programs")?.toInt() ?: 500
    val baseSeed = System.getProperty("strata.serializability.baseSeed")?.toLong() ?: 0x5E41_A11CL

    if (singleSeed != null) {
        val processes = System.getProperty("strata.serializability.processes").toBoolean()
        val remote = System.getProperty("strata.serializability.remote").toBoolean()
        test("the program of seed $singleSeed leaves the bytes of sequential execution (processes: $processes, remote: $remote)") {
            repeat(System.getProperty("strata.serializability.repeat")?.toInt() ?: 1) { checkProgram(singleSeed, EngineStats(), processes, remote) }
        }
    }

    // With a single seed given, only that program runs.
    if (singleSeed == null) test("random programs leave exactly the bytes of sequential execution ($programs programs)")
        .config(timeout = 10.minutes) {
            val stats = EngineStats()
            var tasks = 0
            var groups = 0
            var scopes = 0
            var allocs = 0
            var invalid = 0
            var multiRun = 0
            var concurrentPrograms = 0
            var overtakingPrograms = 0
            checkAll(
                PropTestConfig(seed = baseSeed, iterations = programs, shrinkingMode = ShrinkingMode.Off),
                Arb.long(),
            ) { seed ->
                val before = stats.overtakes.get()
                stats.maxRunning.set(0)
                stats.highestStarted.set(-1)
                val p = checkProgram(seed, stats)
                if (stats.maxRunning.get() > 1) concurrentPrograms++
                if (stats.overtakes.get() > before) overtakingPrograms++
                if (p.runs.size > 1) multiRun++
                fun count(ops: List<Op>) {
                    for (op in ops) when (op) {
                        is AllocOp -> allocs++
                        is ScopeOp -> { scopes++; count(op.ops) }
                        is TaskOp -> { tasks++; if (op.isGroup) groups++; if (op.invalidBecause != null) invalid++ }
                    }
                }
                p.runs.forEach(::count)
            }
            println(
                "SerializabilitySpec: $programs programs, $tasks tasks ($groups groups, $invalid invalid), $scopes scopes, " +
                    "$allocs allocs, $multiRun multi-run programs; ${stats.started.get()} task members ran; " +
                    "$concurrentPrograms programs ran tasks concurrently, $overtakingPrograms saw a task overtake an earlier one",
            )
            // The generator and the jitter must produce what the property is about, or it proves nothing.
            if (programs < 100) return@config // too few programs for the proportions below
            groups shouldBeGreaterThan programs / 2
            scopes shouldBeGreaterThan programs / 2
            allocs shouldBeGreaterThan programs
            invalid shouldBeGreaterThan programs / 4
            multiRun shouldBeGreaterThan programs / 5
            concurrentPrograms shouldBeGreaterThan programs / 4
            overtakingPrograms shouldBeGreaterThan programs / 10
        }

    // The same property with every sub worker and next-level child in its own JVM: tasks cross the mailbox,
    // tensors are shared-memory views mapped by name. Fewer programs: each starts 1-6 child JVMs.
    val processPrograms = System.getProperty("strata.serializability.processPrograms")?.toInt() ?: 12
    if (singleSeed == null) test("random programs on process-isolated children leave the bytes of sequential execution ($processPrograms programs)")
        .config(timeout = 10.minutes) {
            var tasks = 0
            checkAll(
                PropTestConfig(seed = baseSeed xor 0x0C41_1D, iterations = processPrograms, shrinkingMode = ShrinkingMode.Off),
                Arb.long(),
            ) { seed ->
                tasks += countTasks(checkProgram(seed, EngineStats(), processes = true)) { true }
            }
            println("SerializabilitySpec (processes): $processPrograms programs, $tasks tasks")
            tasks shouldBeGreaterThan processPrograms
        }

    // The same property with the next-level children on remote nodes (issue 15): every task sent to them
    // crosses as transfer units (packed views, spans for aliased ones) pulled in chunks, and its written
    // arguments come back element by element. The transport is an in-memory link; the Pekko one is
    // checked by the cluster module's specs.
    val remotePrograms = System.getProperty("strata.serializability.remotePrograms")?.toInt() ?: 150
    if (singleSeed == null) test("random programs with remote next-level nodes leave the bytes of sequential execution ($remotePrograms programs)")
        .config(timeout = 10.minutes) {
            var remoteTasks = 0
            checkAll(
                PropTestConfig(seed = baseSeed xor 0x4E_0DE5, iterations = remotePrograms, shrinkingMode = ShrinkingMode.Off),
                Arb.long(),
            ) { seed ->
                remoteTasks += countTasks(checkProgram(seed, EngineStats(), remote = true)) { op ->
                    op.invalidBecause == null && op.targets.any { it is Target.Next }
                }
            }
            println(
                "SerializabilitySpec (remote): $remotePrograms programs, $remoteTasks tasks on remote nodes; results kept on nodes " +
                    "${RemoteHolding.kept}, inputs read where a node held them ${RemoteHolding.heldReads}, views fetched ${RemoteHolding.fetches}",
            )
            remoteTasks shouldBeGreaterThan remotePrograms
            // Results stayed on nodes, were read there, and were fetched by other readers: the property covers residency.
            RemoteHolding.kept shouldBeGreaterThan 0
            RemoteHolding.heldReads shouldBeGreaterThan 0
            RemoteHolding.fetches shouldBeGreaterThan 0
        }

    // Remote nodes beside sub workers in child JVMs: a child reads the caller's shared memory directly, so what
    // the nodes hold is fetched before a task is handed to it (FetchingEndpoint).
    val mixedPrograms = System.getProperty("strata.serializability.mixedPrograms")?.toInt() ?: 8
    if (singleSeed == null) test("random programs with remote nodes and child JVMs leave the bytes of sequential execution ($mixedPrograms programs)")
        .config(timeout = 10.minutes) {
            val before = RemoteHolding.fetches
            checkAll(
                PropTestConfig(seed = baseSeed xor 0x0C41_4E, iterations = mixedPrograms, shrinkingMode = ShrinkingMode.Off),
                Arb.long(),
            ) { seed -> checkProgram(seed, EngineStats(), processes = true, remote = true) }
            RemoteHolding.fetches shouldBeGreaterThan before
        }
})

/** What the remote property's loopback nodes did with results they kept (issue 15: tensors stay where they are). */
private object RemoteHolding {
    val links = ThreadLocal.withInitial { ArrayList<dev.strata.remote.LoopbackLink>() }
    var kept = 0L
    var heldReads = 0L
    var fetches = 0L

    @Synchronized
    fun collect() {
        for (l in links.get()) {
            kept += l.keptCount.get()
            heldReads += l.heldReads.get()
            fetches += l.fetchCount.get()
        }
        links.get().clear()
    }
}
