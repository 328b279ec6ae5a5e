package dev.strata.tensor

import java.lang.foreign.MemorySegment
import java.lang.foreign.ValueLayout

/**
 * A view of a [Buffer]: [byteOffset] into it, [shape] and [strides] (in elements, >= 0) and [dtype].
 * Its footprint is the set of bytes it touches; two tensors depend on each other only if their
 * footprints intersect, decided exactly for strided views (not by bounding ranges).
 *
 * Creating a view never checks bounds: a view that leaves its buffer is reported when a task using it
 * is submitted, together with every other problem of that submit. Element accessors check bounds
 * against the buffer memory. Immutable and thread-safe; reading and writing elements is as safe as
 * the tasks that do it (the engine orders conflicting tasks).
 */
public class Tensor internal constructor(
    public val buffer: Buffer,
    public val byteOffset: Long,
    private val shapeArr: LongArray,
    private val stridesArr: LongArray,
    public val dtype: DType,
    /** Number of elements in the view. */
    public val elementCount: Long = product(shapeArr),
) {
    init {
        require(shapeArr.size == stridesArr.size) {
            "shape ${shapeArr.contentToString()} and strides ${stridesArr.contentToString()} differ in rank"
        }
    }

    /** Number of dimensions. */
    public val rank: Int get() = shapeArr.size

    /** A copy of the shape. */
    public val shape: LongArray get() = shapeArr.copyOf()

    /** A copy of the strides, in elements. */
    public val strides: LongArray get() = stridesArr.copyOf()

    /** The same view of [buffer] at [byteOffset] more (shape and strides shared, not copied): a graph replay's rebinding. */
    internal fun rebased(buffer: Buffer, extraOffset: Long): Tensor =
        Tensor(buffer, byteOffset + extraOffset, shapeArr, stridesArr, dtype, elementCount)

    /** Size of dimension [dim]. */
    public fun size(dim: Int): Long = shapeArr[dim]

    /** Stride of dimension [dim], in elements. */
    public fun stride(dim: Int): Long = stridesArr[dim]

    // Computed on first use; a racing second computation is harmless (Footprint is immutable).
    private var fp: Footprint? = null

    /** The footprint's normal form, computed once. */
    internal val footprint: Footprint
        get() = fp ?: Footprint.of(byteOffset, shapeArr, stridesArr, dtype.byteSize).also { fp = it }

    /** Whether the view's bytes form one contiguous run (true for the usual row-major views). */
    public val isContiguous: Boolean get() = footprint.isContiguous

    /** True if this tensor and [other] share at least one byte of the same buffer. */
    public fun overlaps(other: Tensor): Boolean = buffer.id == other.buffer.id && footprint.overlaps(other.footprint)

    /** Sub-range `[from, to)` of dimension [dim], keeping every [step]-th index. */
    @JvmOverloads
    public fun slice(dim: Int, from: Long, to: Long, step: Long = 1): Tensor {
        require(dim in 0 until rank) { "dimension $dim out of range for rank $rank" }
        require(step > 0) { "step must be > 0, was $step" }
        require(from in 0..to && to <= shapeArr[dim]) {
            "slice [$from, $to) out of range for dimension $dim of size ${shapeArr[dim]}"
        }
        val s = shapeArr.copyOf()
        val st = stridesArr.copyOf()
        s[dim] = (to - from + step - 1) / step
        st[dim] = stridesArr[dim] * step
        return Tensor(buffer, byteOffset + from * stridesArr[dim] * dtype.byteSize, s, st, dtype)
    }

    /** A 2-D tile `[row, row+rows) x [col, col+cols)` of a 2-D tensor. */
    public fun tile(row: Long, col: Long, rows: Long, cols: Long): Tensor =
        slice(0, row, row + rows).slice(1, col, col + cols)

    /** The view with dimensions [a] and [b] swapped. */
    public fun transpose(a: Int = 0, b: Int = 1): Tensor {
        val s = shapeArr.copyOf()
        val st = stridesArr.copyOf()
        s[a] = shapeArr[b]; s[b] = shapeArr[a]
        st[a] = stridesArr[b]; st[b] = stridesArr[a]
        return Tensor(buffer, byteOffset, s, st, dtype)
    }

    /** Byte offset in the buffer of the element at row-major position [flatIndex] of this view. */
    public fun byteOffsetOf(flatIndex: Long): Long {
        var rest = flatIndex
        var off = byteOffset
        for (d in rank - 1 downTo 0) {
            val n = shapeArr[d]
            off += (rest % n) * stridesArr[d] * dtype.byteSize
            rest /= n
        }
        return off
    }

    /** Byte offset of element `(i)` of a 1-D view. */
    public fun offsetOf(i: Long): Long = byteOffset + i * stridesArr[0] * dtype.byteSize

    /** Byte offset of element `(i, j)` of a 2-D view. */
    public fun offsetOf(i: Long, j: Long): Long =
        byteOffset + (i * stridesArr[0] + j * stridesArr[1]) * dtype.byteSize

    private val mem: MemorySegment
        get() = buffer.segment ?: throw UnsupportedOperationException(
            "$buffer lives in ${buffer.addressSpace}; the host cannot read it directly",
        )

    public fun getFloat(i: Long): Float = mem.get(F32, offsetOf(i))
    public fun getFloat(i: Long, j: Long): Float = mem.get(F32, offsetOf(i, j))
    public fun setFloat(i: Long, value: Float): Unit = mem.set(F32, offsetOf(i), value)
    public fun setFloat(i: Long, j: Long, value: Float): Unit = mem.set(F32, offsetOf(i, j), value)
    public fun getInt(i: Long): Int = mem.get(I32, offsetOf(i))
    public fun getInt(i: Long, j: Long): Int = mem.get(I32, offsetOf(i, j))
    public fun setInt(i: Long, value: Int): Unit = mem.set(I32, offsetOf(i), value)
    public fun setInt(i: Long, j: Long, value: Int): Unit = mem.set(I32, offsetOf(i, j), value)
    public fun getLong(i: Long): Long = mem.get(I64, offsetOf(i))
    public fun setLong(i: Long, value: Long): Unit = mem.set(I64, offsetOf(i), value)
    public fun getDouble(i: Long): Double = mem.get(F64, offsetOf(i))
    public fun setDouble(i: Long, value: Double): Unit = mem.set(F64, offsetOf(i), value)

    /** Byte at row-major element [flatIndex] (the element's first byte for wider dtypes). */
    public fun getByteAt(flatIndex: Long): Byte = mem.get(ValueLayout.JAVA_BYTE, byteOffsetOf(flatIndex))

    /** Writes [value] into the first byte of row-major element [flatIndex]. */
    public fun setByteAt(flatIndex: Long, value: Byte): Unit = mem.set(ValueLayout.JAVA_BYTE, byteOffsetOf(flatIndex), value)

    /**
     * Copies [count] F32 elements of row [row] of a 2-D view, starting at column [col], into [dst] from
     * [dstIndex]. One bulk copy when the columns are contiguous (the usual case); element by element
     * otherwise. Kernels should move rows this way rather than element by element.
     */
    public fun readRow(row: Long, col: Long, dst: FloatArray, dstIndex: Int, count: Int) {
        if (stridesArr[1] == 1L) {
            MemorySegment.copy(mem, F32, offsetOf(row, col), dst, dstIndex, count)
        } else {
            for (k in 0 until count) dst[dstIndex + k] = getFloat(row, col + k)
        }
    }

    /** Copies [count] floats of [src] from [srcIndex] into row [row] of a 2-D F32 view from column [col]. */
    public fun writeRow(row: Long, col: Long, src: FloatArray, srcIndex: Int, count: Int) {
        if (stridesArr[1] == 1L) {
            MemorySegment.copy(src, srcIndex, mem, F32, offsetOf(row, col), count)
        } else {
            for (k in 0 until count) setFloat(row, col + k, src[srcIndex + k])
        }
    }

    /**
     * The view's bytes as one [MemorySegment], for kernels that move data in bulk (`MemorySegment.copy`,
     * vectorised loops). Only for contiguous views of memory this code can address: host buffers, and
     * device memory inside the chip that owns it. Throws [UnsupportedOperationException] otherwise.
     */
    public fun asSegment(): MemorySegment {
        if (!isContiguous) throw UnsupportedOperationException("$this is not contiguous; asSegment() needs a contiguous view")
        return mem.asSlice(footprint.lo, elementCount * dtype.byteSize)
    }

    /** Fills every element of the view with the float [value] (F32 views). */
    public fun fill(value: Float) {
        for (k in 0 until elementCount) mem.set(F32, byteOffsetOf(k), value)
    }

    override fun toString(): String =
        "${buffer.label}[off=$byteOffset B, shape=${shapeArr.contentToString()}, strides=${stridesArr.contentToString()}, $dtype]"

    internal companion object {
        private fun product(shape: LongArray): Long {
            var n = 1L
            for (d in shape) n *= d
            return n
        }

        private val F32 = ValueLayout.JAVA_FLOAT_UNALIGNED
        private val I32 = ValueLayout.JAVA_INT_UNALIGNED
        private val I64 = ValueLayout.JAVA_LONG_UNALIGNED
        private val F64 = ValueLayout.JAVA_DOUBLE_UNALIGNED

        fun contiguous(buffer: Buffer, byteOffset: Long, dtype: DType, shape: LongArray): Tensor {
            val shp = if (shape.isEmpty()) longArrayOf(buffer.byteSize / dtype.byteSize) else shape.copyOf()
            return Tensor(buffer, byteOffset, shp, rowMajorStrides(shp), dtype)
        }
    }
}

/** The strides (in elements) of a dense row-major view of [shape]. */
internal fun rowMajorStrides(shape: LongArray): LongArray {
    val strides = LongArray(shape.size)
    var s = 1L
    for (d in shape.indices.reversed()) {
        strides[d] = s
        s *= shape[d]
    }
    return strides
}
