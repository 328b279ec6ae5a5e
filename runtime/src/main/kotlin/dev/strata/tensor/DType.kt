package dev.strata.tensor

/**
 * Element type of a [Tensor]. [byteSize] is the size of one element; views address memory in whole
 * elements of this size.
 */
public enum class DType(public val byteSize: Int) {
    U8(1), I8(1), I16(2), F16(2), BF16(2), I32(4), U32(4), F32(4), I64(8), U64(8), F64(8);
}

/**
 * The bytes of a contiguous tensor of [dtype] and [shape], computed exactly. Throws
 * [IllegalArgumentException] naming [what] when a dimension is negative or the size does not fit in a
 * `Long` (a wrapped size would give a buffer smaller than its views: issue 13 §13).
 */
internal fun bytesOf(dtype: DType, shape: LongArray, what: String): Long {
    require(shape.all { it >= 0 }) { "$what: every dimension must be >= 0, was ${shape.contentToString()}" }
    var bytes = dtype.byteSize.toLong()
    for (n in shape) {
        bytes = try {
            Math.multiplyExact(bytes, n)
        } catch (_: ArithmeticException) {
            throw IllegalArgumentException("$what: ${shape.contentToString()} elements of $dtype do not fit in ${Long.MAX_VALUE} bytes")
        }
    }
    return bytes
}
