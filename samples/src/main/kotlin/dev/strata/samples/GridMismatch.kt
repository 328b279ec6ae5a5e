package dev.strata.samples

import dev.strata.tensor.Tensor

/** The first element where a result differs from the expected one, compared bit for bit. */
public data class GridMismatch(
    /** What was compared, e.g. `grid` or `band sums`. */
    val what: String,
    val row: Int,
    val col: Int,
    val expected: Float,
    val actual: Float,
) {
    override fun toString(): String =
        "$what[$row, $col]: expected $expected (${bits(expected)}), actual $actual (${bits(actual)})"

    public companion object {
        private fun bits(v: Float): String = "0x%08x".format(v.toRawBits())

        /**
         * Compares two row-major arrays of rows of [cols] elements by their raw IEEE bits (so `-0.0` vs
         * `0.0` and distinct NaNs count as differences) and returns the first difference, or null.
         */
        public fun first(what: String, expected: FloatArray, actual: FloatArray, cols: Int): GridMismatch? {
            require(expected.size == actual.size) { "$what: expected ${expected.size} elements, got ${actual.size}" }
            for (k in expected.indices) {
                if (expected[k].toRawBits() != actual[k].toRawBits()) {
                    return GridMismatch(what, k / cols, k % cols, expected[k], actual[k])
                }
            }
            return null
        }
    }
}

/** The elements of a 2-D F32 view, row-major (a 1-D view reads as one row). */
internal fun Tensor.toFloatArray(): FloatArray {
    val rows = if (rank == 1) 1 else size(0)
    val cols = if (rank == 1) size(0) else size(1)
    val out = FloatArray((rows * cols).toInt())
    for (i in 0 until rows) {
        for (j in 0 until cols) out[(i * cols + j).toInt()] = if (rank == 1) getFloat(j) else getFloat(i, j)
    }
    return out
}
