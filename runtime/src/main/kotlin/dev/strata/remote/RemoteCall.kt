package dev.strata.remote

import dev.strata.tensor.AddressSpace
import dev.strata.tensor.Tensor
import dev.strata.tensor.rowMajorStrides
import dev.strata.task.TaskArgs
import java.lang.foreign.MemorySegment
import java.lang.foreign.ValueLayout

/**
 * One task member on its way to a remote node, as the transport sees it: a header ([spec]), transfer
 * units whose bytes the transport reads in chunks when the node asks for them ([readUnit]), and the
 * arguments whose bytes come back ([returnedArgs], [writeResult]).
 *
 * **Transfer units.** An argument that shares no byte with another argument of the task travels alone,
 * as its elements packed in row-major order (a strided view moves only its own elements). Arguments that
 * overlap (views of the same bytes) travel together as one span of their buffer, so the node sees the
 * same aliasing as the caller. Every argument travels in, whatever its tag, so bytes a task leaves
 * untouched keep their contents; only the arguments that may be written come back, element by element,
 * so the bytes of the buffer between them (which other tasks may be writing) are never overwritten.
 */
public class RemoteCall internal constructor(
    /** The header: task coordinates, callable name, arguments and scalars. */
    public val spec: RemoteTaskSpec,
    /** The caller's path of the node (`L4 node#1@host:port`): what the task sees as its worker path. */
    public val path: String,
    private val units: List<Unit>,
    private val views: List<Tensor>,
    /** Per transfer unit: the bytes a node already holds instead of the caller's (see [heldInput]). */
    private val held: List<RemoteHeld?> = List(units.size) { null },
) {
    /** Per argument: the bytes the node kept ([keepResult]). */
    private val kept = arrayOfNulls<RemoteHeld>(spec.args.size)

    /**
     * Where transfer unit [unit]'s bytes are when not in the caller's tensor: a result an earlier task left on
     * the node this call goes to ([RemoteLink.holds]: it reads them in place; a task that writes the
     * argument gets a copy), or on another node it can read them from directly ([RemoteLink.canFetch]).
     * Null when the unit's bytes come from the caller ([readUnit]).
     */
    public fun heldInput(unit: Int): RemoteHeld? = held[unit]

    /**
     * Records that the node kept written argument [arg]'s bytes ([RemoteArg.mayStay]) instead of sending them
     * back: the caller's view stays stale until the worker fetches [held]. Called instead of [writeResult],
     * before the call's future completes.
     */
    public fun keepResult(arg: Int, held: RemoteHeld) {
        val a = spec.args[arg]
        require(a.mayStay) { "argument $arg ($a) may not stay on the node" }
        require(held.size == a.packedBytes) { "argument $arg has ${a.packedBytes} bytes; the node holds ${held.size}" }
        synchronized(kept) { kept[arg] = held }
    }

    /** The results the node kept, by argument (null: sent back, or not written). */
    internal fun keptResults(): List<RemoteHeld?> = synchronized(kept) { kept.toList() }

    /** The caller's view of argument [arg]. */
    internal fun view(arg: Int): Tensor = views[arg]

    /** The size of transfer unit [unit], in bytes. */
    public fun unitSize(unit: Int): Long = spec.unitSizes[unit]

    /**
     * [length] bytes of transfer unit [unit] from [offset]. Both must be multiples of 8 except for the
     * unit's last chunk (elements are at most 8 bytes wide). Thread-safe.
     */
    public fun readUnit(unit: Int, offset: Long, length: Int): ByteArray {
        val size = unitSize(unit)
        require(offset >= 0 && length >= 0 && offset + length <= size) { "bytes [$offset, ${offset + length}) of a $size-byte transfer unit" }
        check(held[unit] == null) { "transfer unit $unit of $this is held by node ${held[unit]!!.address}; the caller's bytes are stale" }
        return units[unit].read(offset, length)
    }

    /** The arguments whose bytes the node sends back (see [RemoteArg.returns]), by index. */
    public val returnedArgs: List<Int> = spec.args.indices.filter { spec.args[it].returns }

    /**
     * Writes [bytes], the packed elements of argument [arg] from byte [offset] on, into the caller's
     * view. Offsets as for [readUnit]. Called only after the task succeeded.
     */
    public fun writeResult(arg: Int, offset: Long, bytes: ByteArray) {
        val a = spec.args[arg]
        require(a.returns) { "argument $arg ($a) is not written by its task" }
        require(offset >= 0 && offset + bytes.size <= a.packedBytes) { "bytes [$offset, ${offset + bytes.size}) of argument $arg (${a.packedBytes} B)" }
        Packing.scatter(views[arg], offset, bytes)
    }

    override fun toString(): String = "task #${spec.taskId} '${spec.taskName}' (${spec.callable})"

    /** Where a transfer unit's bytes come from on the caller. */
    internal sealed interface Unit {
        fun read(offset: Long, length: Int): ByteArray
    }

    /** One view's elements, packed. */
    private class Dense(val view: Tensor) : Unit {
        override fun read(offset: Long, length: Int): ByteArray = Packing.gather(view, offset, length)
    }

    /** Bytes [lo, lo + size) of a buffer (views that overlap travel together). */
    private class Span(val segment: MemorySegment, val lo: Long) : Unit {
        override fun read(offset: Long, length: Int): ByteArray {
            val out = ByteArray(length)
            MemorySegment.copy(segment, ValueLayout.JAVA_BYTE, lo + offset, out, 0, length)
            return out
        }
    }

    internal companion object {
        /** The biggest transfer unit: one byte array on the node. */
        const val MAX_UNIT: Long = Int.MAX_VALUE - 64L

        /**
         * Describes member [member] (of [groupSize]) of task [taskId] '[name]' with [args] for a remote node.
         * Throws [IllegalArgumentException] naming the argument when one cannot travel (device memory, or
         * bigger than [MAX_UNIT]).
         */
        fun of(
            path: String,
            taskId: Long,
            member: Int,
            groupSize: Int,
            name: String,
            callable: String,
            args: TaskArgs,
            heldArgs: Map<Int, RemoteHeld> = emptyMap(),
            keep: Boolean = false,
        ): RemoteCall {
            val n = args.tensorCount
            val tensors = List(n) { args.tensor(it) }
            for ((i, t) in tensors.withIndex()) {
                require(t.buffer.addressSpace is AddressSpace.Host && t.buffer.segment != null) {
                    "argument $i ($t) lives in ${t.buffer.addressSpace}; a remote node receives host tensors only (copy device results to host memory first)"
                }
            }
            // Arguments that overlap share a transfer unit (union-find over the few arguments of a task).
            val group = IntArray(n) { it }
            fun root(i: Int): Int { var r = i; while (group[r] != r) r = group[r]; return r }
            for (i in 0 until n) for (j in i + 1 until n) {
                if (tensors[i].elementCount > 0 && tensors[j].elementCount > 0 && tensors[i].overlaps(tensors[j])) group[root(j)] = root(i)
            }
            val units = ArrayList<Unit>()
            val heldUnits = ArrayList<RemoteHeld?>()
            val sizes = ArrayList<Long>()
            val unitOfRoot = HashMap<Int, Int>()
            val specs = ArrayList<RemoteArg>(n)
            for (i in 0 until n) {
                val t = tensors[i]
                val r = root(i)
                val members = (0 until n).filter { root(it) == r }
                val packed = t.elementCount * t.dtype.byteSize
                if (members.size == 1) {
                    require(packed <= MAX_UNIT) { "argument $i ($t) has $packed bytes; a remote task's tensor may have at most $MAX_UNIT" }
                    units += Dense(t); sizes += packed
                    heldUnits += heldArgs[i]?.also { check(it.size == packed) { "argument $i has $packed bytes; the node holds ${it.size}" } }
                    val tag = args.arg(i).tag
                    specs += RemoteArg(tag, t.dtype, units.size - 1, 0, t.shape.asList(), rowMajorStrides(t.shape).asList(), keep && tag.tracked && tag.writes && Packing.isInjective(t))
                } else {
                    check(i !in heldArgs) { "argument $i overlaps another argument of its task; it cannot be read where a node holds it" }
                    val u = unitOfRoot.getOrPut(r) {
                        val lo = members.minOf { tensors[it].footprint.lo }
                        val hi = members.maxOf { tensors[it].footprint.hi }
                        require(hi - lo <= MAX_UNIT) { "arguments $members overlap over ${hi - lo} bytes; a remote task's tensors may span at most $MAX_UNIT" }
                        units += Span(t.buffer.segment!!, lo); sizes += hi - lo; heldUnits += null
                        units.size - 1
                    }
                    val lo = (units[u] as Span).lo
                    specs += RemoteArg(args.arg(i).tag, t.dtype, u, t.byteOffset - lo, t.shape.asList(), t.strides.asList())
                }
            }
            val spec = RemoteTaskSpec(taskId, member, groupSize, name, callable, sizes, specs, List(args.scalarCount) { args.scalar(it) })
            return RemoteCall(spec, path, units, tensors, heldUnits)
        }
    }
}

/** Packs a view's elements into bytes (row-major) and back: in bulk when the view is contiguous. */
internal object Packing {
    private fun segmentOf(t: Tensor): MemorySegment = t.buffer.segment
        ?: throw UnsupportedOperationException("${t.buffer} lives in ${t.buffer.addressSpace}; the host cannot read it directly")

    /**
     * Whether [view]'s elements lie in row-major order one after the other (its packed bytes are its bytes).
     * Not the same as [Tensor.isContiguous]: a transposed matrix covers one run of bytes in another order.
     */
    fun isRowMajor(view: Tensor): Boolean {
        var expect = 1L
        for (d in view.rank - 1 downTo 0) {
            val n = view.size(d)
            if (n != 1L && view.stride(d) != expect) return false
            expect *= n
        }
        return true
    }

    /**
     * Whether no two elements of [view] share a byte (sufficient test: every dimension's stride clears the
     * extent of the dimensions with smaller strides). A view whose elements alias (a zero stride, rows that
     * overlap) is not its packed copy: its bytes can only be kept where its buffer is.
     */
    fun isInjective(view: Tensor): Boolean {
        val dims = (0 until view.rank).filter { view.size(it) > 1 }.sortedBy { view.stride(it) }
        var extent = 0L // elements spanned by the dimensions so far, minus one
        for (d in dims) {
            val s = view.stride(d)
            if (s <= extent) return false
            extent += s * (view.size(d) - 1)
        }
        return true
    }

    /** [length] packed bytes of [view] from packed byte [offset]. */
    fun gather(view: Tensor, offset: Long, length: Int): ByteArray {
        val out = ByteArray(length)
        if (length == 0) return out
        val mem = segmentOf(view)
        if (isRowMajor(view)) {
            MemorySegment.copy(mem, ValueLayout.JAVA_BYTE, view.byteOffset + offset, out, 0, length)
            return out
        }
        forEachElement(view, offset, length) { at, pos, n -> MemorySegment.copy(mem, ValueLayout.JAVA_BYTE, at, out, pos, n) }
        return out
    }

    /** Writes packed [bytes] of [view] from packed byte [offset]. */
    fun scatter(view: Tensor, offset: Long, bytes: ByteArray) {
        if (bytes.isEmpty()) return
        val mem = segmentOf(view)
        if (isRowMajor(view)) {
            MemorySegment.copy(bytes, 0, mem, ValueLayout.JAVA_BYTE, view.byteOffset + offset, bytes.size)
            return
        }
        forEachElement(view, offset, bytes.size) { at, pos, n -> MemorySegment.copy(bytes, pos, mem, ValueLayout.JAVA_BYTE, at, n) }
    }

    /** Calls [copy] with (byte offset in the buffer, position in the packed range, byte count) per element touched. */
    private inline fun forEachElement(view: Tensor, offset: Long, length: Int, copy: (Long, Int, Int) -> kotlin.Unit) {
        val esz = view.dtype.byteSize
        require(offset % esz == 0L) { "packed offset $offset is not a multiple of the element size $esz" }
        var k = offset / esz
        var pos = 0
        while (pos < length) {
            val n = minOf(esz, length - pos)
            copy(view.byteOffsetOf(k), pos, n)
            pos += n
            k++
        }
    }
}
