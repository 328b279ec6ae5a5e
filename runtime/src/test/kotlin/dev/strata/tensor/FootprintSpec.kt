package dev.strata.tensor

import io.kotest.assertions.withClue
import io.kotest.core.spec.style.FunSpec
import io.kotest.matchers.comparables.shouldBeGreaterThan
import io.kotest.matchers.shouldBe
import io.kotest.property.Arb
import io.kotest.property.PropTestConfig
import io.kotest.property.ShrinkingMode
import io.kotest.property.arbitrary.arbitrary
import io.kotest.property.checkAll
import java.util.BitSet
import kotlin.random.Random

/**
 * A strided view in the raw form [Footprint.of] takes: byte offset, shape and strides in elements,
 * element size in bytes.
 */
private data class RawView(val byteOffset: Long, val shape: LongArray, val strides: LongArray, val elementSize: Int) {
    val footprint: Footprint get() = Footprint.of(byteOffset, shape, strides, elementSize)

    /** The brute-force model: every byte the view touches. */
    fun bytes(): BitSet {
        val set = BitSet()
        val n = shape.fold(1L) { acc, s -> acc * s }
        val idx = LongArray(shape.size)
        for (flat in 0 until n) {
            var rest = flat
            for (d in shape.indices.reversed()) {
                idx[d] = rest % shape[d]
                rest /= shape[d]
            }
            var off = byteOffset
            for (d in shape.indices) off += idx[d] * strides[d] * elementSize
            set.set(off.toInt(), (off + elementSize).toInt())
        }
        return set
    }

    override fun toString(): String =
        "view(off=$byteOffset B, shape=${shape.contentToString()}, strides=${strides.contentToString()}, es=$elementSize)"
}

private const val BUFFER_BYTES = 512
private val ELEMENT_SIZES = intArrayOf(1, 2, 4, 8)

/** A random view of rank 0..3, sizes 0..6, strides 0..12 elements, inside a 512-byte buffer. */
private fun randomView(r: Random): RawView {
    while (true) {
        val es = ELEMENT_SIZES[r.nextInt(ELEMENT_SIZES.size)]
        val rank = r.nextInt(4)
        val shape = LongArray(rank) { if (r.nextInt(12) == 0) 0L else r.nextLong(1, 7) }
        val strides = LongArray(rank) {
            when (r.nextInt(5)) {
                0 -> 0L // broadcast
                1 -> 1L // dense
                else -> r.nextLong(0, 13)
            }
        }
        // Now and then make the view row-major dense so the contiguous fast paths are exercised too.
        if (rank > 0 && r.nextInt(6) == 0) {
            var s = 1L
            for (d in rank - 1 downTo 0) {
                strides[d] = s
                s *= maxOf(shape[d], 1)
            }
        }
        val span = (0 until rank).sumOf { d -> if (shape[d] == 0L) 0L else (shape[d] - 1) * strides[d] } * es + es
        if (span > BUFFER_BYTES) continue
        val maxOffset = BUFFER_BYTES - span
        // Offsets are whole bytes (not whole elements): unaligned views are legal footprints too.
        val offset = if (r.nextBoolean()) r.nextLong(0, minOf(maxOffset, 48) + 1) else r.nextLong(0, maxOffset + 1)
        return RawView(offset, shape, strides, es)
    }
}

/**
 * Pairs biased towards the hard cases: independent views, the same geometry shifted by a few bytes
 * (interleaving), the same geometry with another element size, and sub-views of the first view.
 */
private fun randomPair(r: Random): Pair<RawView, RawView> {
    val a = randomView(r)
    val b = when (r.nextInt(5)) {
        0, 1 -> randomView(r)
        2 -> a.copy(byteOffset = maxOf(0, a.byteOffset + r.nextLong(-16, 17)))
        3 -> a.copy(byteOffset = maxOf(0, a.byteOffset + r.nextLong(-4, 5)), elementSize = ELEMENT_SIZES[r.nextInt(4)])
        else -> subView(a, r)
    }
    return if (r.nextBoolean()) a to b else b to a
}

/** A view of a sub-range of every dimension of [v] (possibly with a step), or [v] itself. */
private fun subView(v: RawView, r: Random): RawView {
    if (v.shape.isEmpty() || r.nextInt(5) == 0) return v.copy()
    var off = v.byteOffset
    val shape = v.shape.copyOf()
    val strides = v.strides.copyOf()
    for (d in shape.indices) {
        if (shape[d] == 0L) continue
        val from = r.nextLong(0, shape[d])
        val step = r.nextLong(1, 3)
        val to = r.nextLong(from + 1, shape[d] + 1)
        off += from * v.strides[d] * v.elementSize
        shape[d] = (to - from + step - 1) / step
        strides[d] = v.strides[d] * step
    }
    return RawView(off, shape, strides, v.elementSize)
}

private fun BitSet.intersectsAny(other: BitSet): Boolean = intersects(other)
private fun BitSet.isSubsetOf(other: BitSet): Boolean = (clone() as BitSet).apply { andNot(other) }.isEmpty

private val pairArb: Arb<Pair<RawView, RawView>> = arbitrary { rs -> randomPair(rs.random) }

/** Fixed seeds: a failure reproduces; kotest also prints the seed and the failing pair. */
private fun config(seed: Long, iterations: Int) =
    PropTestConfig(seed = seed, iterations = iterations, shrinkingMode = ShrinkingMode.Off)

class FootprintSpec : FunSpec({

    test("property: overlaps equals the brute-force byte-set model: random strided views (rank 0..3, sizes 0..6, strides 0..12, element sizes 1/2/4/8), 4000 pairs") {
        var overlapping = 0
        var disjoint = 0
        var disjointWithinBounds = 0 // bounding ranges meet but no byte is shared: the hard case
        checkAll(config(seed = 0x5EED_F00DL, iterations = 4000), pairArb) { (a, b) ->
            val ba = a.bytes()
            val bb = b.bytes()
            val expected = ba.intersectsAny(bb)
            val fa = a.footprint
            val fb = b.footprint
            withClue("a=$a fa=$fa\nb=$b fb=$fb") {
                fa.overlaps(fb) shouldBe expected
                fb.overlaps(fa) shouldBe expected
            }
            if (expected) {
                overlapping++
            } else {
                disjoint++
                if (!ba.isEmpty && !bb.isEmpty && fa.lo < fb.hi && fb.lo < fa.hi) disjointWithinBounds++
            }
        }
        // The generator must exercise both answers and the interleaved case, or the property is vacuous.
        overlapping shouldBeGreaterThan 800
        disjoint shouldBeGreaterThan 800
        disjointWithinBounds shouldBeGreaterThan 200
    }

    test("property: overlaps equals the brute-force byte-set model: lo and hi bound exactly the touched bytes, and empty views have empty footprints") {
        checkAll(config(seed = 0xB0B0L, iterations = 2000), pairArb) { (a, _) ->
            val bytes = a.bytes()
            val fp = a.footprint
            withClue("$a -> $fp") {
                fp.isEmpty shouldBe bytes.isEmpty
                if (!bytes.isEmpty) {
                    fp.lo shouldBe bytes.nextSetBit(0).toLong()
                    fp.hi shouldBe bytes.length().toLong()
                }
            }
        }
    }

    test("property: overlaps equals the brute-force byte-set model: a footprint in contiguous normal form really is one run of bytes") {
        var contiguous = 0
        checkAll(config(seed = 0xC0DEL, iterations = 2000), pairArb) { (a, _) ->
            val fp = a.footprint
            if (!fp.isEmpty && fp.isContiguous) {
                contiguous++
                val bytes = a.bytes()
                withClue("$a -> $fp") {
                    bytes.cardinality().toLong() shouldBe (fp.hi - fp.lo)
                }
            }
        }
        contiguous shouldBeGreaterThan 200
    }

    test("property: covers is sound: covers(a, b) implies bytes(b) are a subset of bytes(a), 4000 pairs") {
        var covered = 0
        var coveredNonTrivially = 0 // b non-empty and not byte-identical to a
        checkAll(config(seed = 0xC0FE_FEEDL, iterations = 4000), pairArb) { (a, b) ->
            val fa = a.footprint
            val fb = b.footprint
            if (fa.covers(fb)) {
                covered++
                val ba = a.bytes()
                val bb = b.bytes()
                withClue("a=$a fa=$fa\nb=$b fb=$fb") { bb.isSubsetOf(ba) shouldBe true }
                if (!bb.isEmpty && bb != ba) coveredNonTrivially++
            }
        }
        covered shouldBeGreaterThan 300
        coveredNonTrivially shouldBeGreaterThan 100
    }

    test("property: covers is sound: every footprint covers itself and a contiguous one covers every view inside its range") {
        checkAll(config(seed = 0xFACEL, iterations = 2000), pairArb) { (a, b) ->
            val fa = a.footprint
            val fb = b.footprint
            withClue("a=$a fa=$fa") { fa.covers(a.footprint) shouldBe true }
            if (!fa.isEmpty && fa.isContiguous) {
                val inside = fb.isEmpty || (fa.lo <= fb.lo && fb.hi <= fa.hi)
                withClue("a=$a fa=$fa\nb=$b fb=$fb") { fa.covers(fb) shouldBe inside }
            }
        }
    }

    val matrix = Buffer.host(8 * 8 * 4, "matrix").tensor(DType.F32, 8, 8)

    test("hand-written cases through Tensor views: disjoint column tiles of a matrix do not overlap although their byte ranges interleave") {
        val left = matrix.tile(0, 0, 8, 4)
        val right = matrix.tile(0, 4, 8, 4)
        (left.footprint.lo < right.footprint.hi && right.footprint.lo < left.footprint.hi) shouldBe true
        left.overlaps(right) shouldBe false
        right.overlaps(left) shouldBe false
        // One column more on the left and they share column 4.
        matrix.tile(0, 0, 8, 5).overlaps(right) shouldBe true
        // Row tiles of the two column blocks that share no row are disjoint either way.
        matrix.tile(0, 0, 4, 8).overlaps(matrix.tile(4, 0, 4, 8)) shouldBe false
        matrix.tile(0, 2, 3, 3).overlaps(matrix.tile(2, 4, 3, 3)) shouldBe true // share element (2, 4)
        matrix.tile(0, 2, 3, 2).overlaps(matrix.tile(2, 4, 3, 3)) shouldBe false
    }

    test("hand-written cases through Tensor views: interleaved strided rows: even elements never meet odd ones, in bytes or wider dtypes") {
        val bytes = Buffer.host(64, "bytes").tensor(DType.U8, 64)
        val even = bytes.slice(0, 0, 64, 2)
        val odd = bytes.slice(0, 1, 64, 2)
        even.overlaps(odd) shouldBe false
        even.overlaps(bytes.slice(0, 4, 5)) shouldBe true
        odd.overlaps(bytes.slice(0, 4, 5)) shouldBe false
        odd.overlaps(bytes.slice(0, 5, 6)) shouldBe true

        val ints = Buffer.host(64 * 4, "ints").tensor(DType.I32, 64)
        ints.slice(0, 0, 64, 2).overlaps(ints.slice(0, 1, 64, 2)) shouldBe false
        // Even rows versus odd rows of a matrix.
        matrix.slice(0, 0, 8, 2).overlaps(matrix.slice(0, 1, 8, 2)) shouldBe false
        matrix.slice(0, 0, 8, 2).overlaps(matrix.slice(0, 2, 8, 3)) shouldBe true // row 2
        matrix.slice(0, 1, 8, 4).overlaps(matrix.slice(0, 3, 8, 4)) shouldBe false // rows 1,5 vs 3,7
    }

    test("hand-written cases through Tensor views: a transposed view touches the same bytes as its source") {
        val t = matrix.transpose()
        t.overlaps(matrix) shouldBe true
        t.footprint.covers(matrix.footprint) shouldBe true
        matrix.footprint.covers(t.footprint) shouldBe true
        // The transpose of the left column block is still disjoint from the right block.
        matrix.tile(0, 0, 8, 4).transpose().overlaps(matrix.tile(0, 4, 8, 4)) shouldBe false
        matrix.tile(0, 0, 8, 4).transpose().overlaps(matrix.tile(0, 3, 8, 4)) shouldBe true
        // Row 2 of the transpose is column 2 of the source.
        t.slice(0, 2, 3).overlaps(matrix.tile(0, 2, 8, 1)) shouldBe true
        t.slice(0, 2, 3).overlaps(matrix.tile(0, 3, 8, 1)) shouldBe false
    }

    test("hand-written cases through Tensor views: edge cases: adjacent ranges, partial wide elements, scalars, broadcasts, other buffers") {
        val buf = Buffer.host(64, "edges")
        val u8 = buf.tensor(DType.U8, 64)
        // Adjacent byte ranges touch but do not overlap.
        u8.slice(0, 0, 8).overlaps(u8.slice(0, 8, 16)) shouldBe false
        u8.slice(0, 0, 9).overlaps(u8.slice(0, 8, 16)) shouldBe true
        // An I64 element covers 8 bytes: its last byte counts, the next one does not.
        val i64at8 = buf.view(DType.I64, 1, longArrayOf(), longArrayOf()) // rank 0: bytes [8, 16)
        i64at8.overlaps(u8.slice(0, 15, 16)) shouldBe true
        i64at8.overlaps(u8.slice(0, 16, 17)) shouldBe false
        i64at8.overlaps(u8.slice(0, 7, 8)) shouldBe false
        // A zero stride touches one element however large the shape.
        val broadcast = buf.view(DType.I32, 3, longArrayOf(1000, 5), longArrayOf(0, 0)) // bytes [12, 16)
        broadcast.footprint.isContiguous shouldBe true
        broadcast.footprint.hi - broadcast.footprint.lo shouldBe 4L
        broadcast.overlaps(u8.slice(0, 16, 64)) shouldBe false
        broadcast.overlaps(u8.slice(0, 0, 64, 13)) shouldBe true // byte 13
        // Views of different buffers never overlap, whatever their offsets.
        Buffer.host(64, "other").tensor(DType.U8, 64).overlaps(u8) shouldBe false
        // Unit dimensions with any stride change nothing.
        buf.view(DType.U8, 4, longArrayOf(1, 4, 1), longArrayOf(999, 1, 77)).overlaps(u8.slice(0, 8, 9)) shouldBe false
        buf.view(DType.U8, 4, longArrayOf(1, 5, 1), longArrayOf(999, 1, 77)).overlaps(u8.slice(0, 8, 9)) shouldBe true
    }

    test("hand-written cases through Tensor views: empty views overlap nothing, not even themselves, and are covered by anything") {
        val buf = Buffer.host(64, "empty")
        val all = buf.tensor(DType.U8, 64)
        val empty = buf.view(DType.U8, 10, longArrayOf(0), longArrayOf(1))
        val empty2d = buf.view(DType.I32, 0, longArrayOf(4, 0), longArrayOf(4, 1))
        empty.footprint.isEmpty shouldBe true
        empty2d.footprint.isEmpty shouldBe true
        empty.overlaps(all) shouldBe false
        all.overlaps(empty) shouldBe false
        empty.overlaps(empty) shouldBe false
        empty2d.overlaps(all) shouldBe false
        all.footprint.covers(empty.footprint) shouldBe true
        matrix.tile(0, 0, 8, 4).footprint.covers(empty2d.footprint) shouldBe true
        empty.footprint.covers(all.footprint) shouldBe false
    }

    // No memory behind these views: footprints only need the geometry.
    val big = Buffer.opaque(100_000L * 64 * 4, AddressSpace.Host, "big").tensor(DType.F32, 100_000, 64)

    test("large shapes are decided exactly without an exhaustive search: two disjoint column blocks of a 100000x64 matrix do not overlap") {
        val left = big.tile(0, 0, 100_000, 32)
        val right = big.tile(0, 32, 100_000, 32)
        // An answer of true here would also be what a search that ran out of budget reports.
        left.overlaps(right) shouldBe false
        right.overlaps(left) shouldBe false
        big.tile(0, 0, 100_000, 33).overlaps(right) shouldBe true
    }

    test("large shapes are decided exactly without an exhaustive search: even and odd rows, and far-apart row blocks, of a 100000x64 matrix do not overlap") {
        big.slice(0, 0, 100_000, 2).overlaps(big.slice(0, 1, 100_000, 2)) shouldBe false
        big.slice(0, 0, 100_000, 2).overlaps(big.slice(0, 99_998, 99_999)) shouldBe true
        big.tile(0, 0, 50_000, 64).overlaps(big.tile(50_000, 0, 50_000, 64)) shouldBe false
        big.tile(0, 0, 50_000, 64).overlaps(big.tile(49_999, 63, 1, 1)) shouldBe true
    }

    // Known limit: views whose strides differ (here 256 B vs 768 B) are split row by row; past
    // Footprint.SEARCH_BUDGET steps overlaps() answers the safe `true` (a spurious dependency, never a
    // missed one). This pins that behaviour so a change to it is deliberate; a small case stays exact.
    test("large shapes: strides that differ fall back to the safe answer past the search budget, small ones stay exact") {
        big.tile(0, 0, 100_000, 16).overlaps(big.slice(0, 1, 100_000, 3).slice(1, 16, 64)) shouldBe true
        big.tile(0, 0, 300, 16).overlaps(big.slice(0, 1, 300, 3).slice(1, 16, 64)) shouldBe false
    }
})
