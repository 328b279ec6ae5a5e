package dev.strata.tensor

/**
 * The exact set of bytes a strided view touches, in a normal form that makes overlap tests cheap:
 * `{ base + Σ i_k·stride_k + r  |  0 <= i_k < count_k, 0 <= r < run }` with strides in bytes, sorted
 * descending, and unit dimensions, zero strides and contiguous neighbours folded away (a row-major
 * view of whole rows becomes a single run).
 *
 * [overlaps] is exact: same-stride dimensions are compared by their offset difference alone (the
 * sub-problems for every index pair with the same difference are translations of one another), other
 * dimensions are split recursively with bounding-range pruning. Only if that search exceeds
 * [SEARCH_BUDGET] steps does it answer `true`, which is safe: a spurious dependency costs parallelism,
 * never correctness.
 */
internal class Footprint private constructor(
    /** First byte; equals [hi] for an empty footprint. */
    val lo: Long,
    /** One past the last byte. */
    val hi: Long,
    private val counts: LongArray,
    private val strides: LongArray,
    private val run: Long,
    /** extents[k] = bytes spanned by dimensions k.. plus the run; extents[dims] = run. */
    private val extents: LongArray,
) {
    val isEmpty: Boolean get() = hi <= lo

    /**
     * True when the view's byte arithmetic does not fit in a `Long` (e.g. shape `[2^62 + 1]` of F32):
     * such a view can never lie inside a buffer, and validation reports it instead of a wrapped range.
     */
    val overflows: Boolean get() = this === OVERFLOW
    val isContiguous: Boolean get() = counts.isEmpty()
    private val dims: Int get() = counts.size

    fun overlaps(other: Footprint): Boolean {
        if (isEmpty || other.isEmpty) return false
        if (hi <= other.lo || other.hi <= lo) return false
        if (isContiguous && other.isContiguous) return true
        val budget = intArrayOf(SEARCH_BUDGET)
        return intersects(this, lo, 0, other, other.lo, 0, budget)
    }

    /**
     * True only if every byte of [other] is also a byte of this footprint. Conservative: may answer
     * false for a covered footprint of a different shape (the caller then keeps both, which is safe).
     */
    fun covers(other: Footprint): Boolean {
        if (other.isEmpty) return true
        if (isEmpty) return false
        if (isContiguous) return lo <= other.lo && other.hi <= hi
        return lo == other.lo && run == other.run && counts.contentEquals(other.counts) &&
            strides.contentEquals(other.strides)
    }

    override fun toString(): String =
        "Footprint[$lo, $hi) counts=${counts.contentToString()} strides=${strides.contentToString()} run=$run"

    companion object {
        /** Steps after which [overlaps] gives up and answers the safe `true`. */
        const val SEARCH_BUDGET = 1 shl 16

        private val EMPTY = Footprint(0, 0, LongArray(0), LongArray(0), 0, longArrayOf(0))

        /** Stands for every view whose byte arithmetic overflows: spans all of `Long`, never empty. */
        private val OVERFLOW = Footprint(Long.MIN_VALUE, Long.MAX_VALUE, LongArray(0), LongArray(0), 0, longArrayOf(0))

        /**
         * The normal form of the view at [byteOffset] with [shape] and [elementStrides]. All arithmetic is
         * exact: a view whose bytes cannot be addressed with a `Long` gives the footprint that [overflows].
         */
        fun of(byteOffset: Long, shape: LongArray, elementStrides: LongArray, elementSize: Int): Footprint =
            try {
                normalForm(byteOffset, shape, elementStrides, elementSize)
            } catch (_: ArithmeticException) {
                OVERFLOW
            }

        private fun normalForm(byteOffset: Long, shape: LongArray, elementStrides: LongArray, elementSize: Int): Footprint {
            var base = byteOffset
            val ns = ArrayList<Long>(shape.size)
            val ss = ArrayList<Long>(shape.size)
            for (d in shape.indices) {
                val n = shape[d]
                if (n == 0L) return EMPTY
                var s = Math.multiplyExact(elementStrides[d], elementSize.toLong())
                if (n == 1L || s == 0L) continue
                if (s < 0) { // the same bytes, walked from the other end
                    base = Math.addExact(base, Math.multiplyExact(n - 1, s))
                    s = Math.negateExact(s)
                }
                ns += n
                ss += s
            }
            // Sort dimensions by stride, descending (insertion sort: ranks are tiny).
            for (i in 1 until ss.size) {
                var j = i
                while (j > 0 && ss[j - 1] < ss[j]) {
                    ss[j - 1] = ss[j].also { ss[j] = ss[j - 1] }
                    ns[j - 1] = ns[j].also { ns[j] = ns[j - 1] }
                    j--
                }
            }
            var run = elementSize.toLong()
            var changed = true
            while (changed) {
                changed = false
                // The innermost dimension steps by no more than the run: its bytes are one longer run.
                if (ss.isNotEmpty() && ss.last() <= run) {
                    run = Math.addExact(run, Math.multiplyExact(ns.last() - 1, ss.last()))
                    ns.removeAt(ns.lastIndex); ss.removeAt(ss.lastIndex)
                    changed = true
                }
                // Neighbours where the outer stride is the inner dimension's whole span fold into one.
                var k = ss.size - 1
                while (k > 0) {
                    if (ss[k - 1] == Math.multiplyExact(ns[k], ss[k])) {
                        ns[k - 1] = Math.multiplyExact(ns[k - 1], ns[k])
                        ss[k - 1] = ss[k]
                        ns.removeAt(k); ss.removeAt(k)
                        changed = true
                    }
                    k--
                }
            }
            val counts = ns.toLongArray()
            val strides = ss.toLongArray()
            val extents = LongArray(counts.size + 1)
            extents[counts.size] = run
            for (k in counts.indices.reversed()) {
                extents[k] = Math.addExact(extents[k + 1], Math.multiplyExact(counts[k] - 1, strides[k]))
            }
            return Footprint(base, Math.addExact(base, extents[0]), counts, strides, run, extents)
        }

        /**
         * Whether the sub-footprint of [a] at [aBase] over dimensions [ad].. meets that of [b] at [bBase]
         * over dimensions [bd]...
         */
        private fun intersects(
            a: Footprint, aBase: Long, ad: Int,
            b: Footprint, bBase: Long, bd: Int,
            budget: IntArray,
        ): Boolean {
            if (--budget[0] < 0) return true // too expensive to decide: report the safe answer
            val aHi = aBase + a.extents[ad]
            val bHi = bBase + b.extents[bd]
            if (aHi <= bBase || bHi <= aBase) return false
            val aLeaf = ad == a.dims
            val bLeaf = bd == b.dims
            if (aLeaf && bLeaf) return true // two runs whose ranges meet

            if (!aLeaf && !bLeaf && a.strides[ad] == b.strides[bd]) {
                // Same stride s: block i of a meets block j of b only through k = j - i, and all pairs with
                // the same k are the same problem shifted by i*s. Try each feasible k once.
                val s = a.strides[ad]
                val subA = a.extents[ad + 1]
                val subB = b.extents[bd + 1]
                val na = a.counts[ad]
                val nb = b.counts[bd]
                val kMin = Math.ceilDiv(aBase - subB + 1 - bBase, s)
                val kMax = Math.floorDiv(aBase + subA - 1 - bBase, s)
                for (k in maxOf(kMin, -(na - 1))..minOf(kMax, nb - 1)) {
                    if (maxOf(0L, -k) > minOf(na - 1, nb - 1 - k)) continue // no i with both in range
                    if (intersects(a, aBase, ad + 1, b, bBase + k * s, bd + 1, budget)) return true
                }
                return false
            }

            // Split the side with the larger span.
            val splitA = !aLeaf && (bLeaf || a.extents[ad] >= b.extents[bd])
            return if (splitA) {
                splitAndSearch(a, aBase, ad, b, bBase, bd, budget, swapped = false)
            } else {
                splitAndSearch(b, bBase, bd, a, aBase, ad, budget, swapped = true)
            }
        }

        private fun splitAndSearch(
            x: Footprint, xBase: Long, xd: Int,
            y: Footprint, yBase: Long, yd: Int,
            budget: IntArray, swapped: Boolean,
        ): Boolean {
            val s = x.strides[xd]
            val sub = x.extents[xd + 1]
            val yHi = yBase + y.extents[yd]
            val iMin = maxOf(0L, Math.ceilDiv(yBase - sub + 1 - xBase, s))
            val iMax = minOf(x.counts[xd] - 1, Math.floorDiv(yHi - 1 - xBase, s))
            var i = iMin
            while (i <= iMax) {
                val hit = if (swapped) {
                    intersects(y, yBase, yd, x, xBase + i * s, xd + 1, budget)
                } else {
                    intersects(x, xBase + i * s, xd + 1, y, yBase, yd, budget)
                }
                if (hit) return true
                if (budget[0] < 0) return true
                i++
            }
            return false
        }
    }
}
