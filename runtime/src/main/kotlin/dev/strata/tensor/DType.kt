package dev.strata.tensor

/**
 * Element type of a [Tensor]. [byteSize] is the size of one element; views address memory in whole
 * elements of this size.
 */
public enum class DType(public val byteSize: Int) {
    U8(1), I8(1), I16(2), F16(2), BF16(2), I32(4), U32(4), F32(4), I64(8), U64(8), F64(8);
}
