package dev.strata.samples

import dev.strata.tensor.Tensor

/**
 * The arithmetic of the `pipeline` sample, shared by the engine's tasks and the sequential reference so
 * both perform the same float operations in the same order (the comparison is bit for bit).
 *
 * Every function works in global grid coordinates; a task that holds a view starting at `(row0, col0)`
 * translates before reading. Element values never depend on how the grid is tiled: only the band sums
 * accumulate, and both sides accumulate them in row-major order.
 */
internal object PipelineStages {
    /** Row bands of the final reduction, one group member (and one sub worker) each. */
    const val BANDS: Int = 4

    /** Deterministic initial contents in [0, 1). */
    fun initial(row: Int, col: Int): Float = ((row * 7_919 + col * 104_729) % 1_000) / 1_000f

    /**
     * 5-point average at `(row, col)` of an `n x n` grid; neighbours outside the grid are clamped to the
     * edge. [read] returns the source element at global coordinates.
     */
    inline fun stencil(row: Int, col: Int, n: Int, read: (Int, Int) -> Float): Float {
        val centre = read(row, col)
        val up = read(maxOf(row - 1, 0), col)
        val down = read(minOf(row + 1, n - 1), col)
        val left = read(row, maxOf(col - 1, 0))
        val right = read(row, minOf(col + 1, n - 1))
        return (centre + up + down + left + right) * 0.2f
    }

    /**
     * Scale and a position-dependent bias for element `(row, col)` of the stencil output at [step]. The
     * bias keeps structure in the grid so repeated smoothing cannot make every element equal (which
     * would hide a misordered task).
     */
    fun transform(value: Float, row: Int, col: Int, step: Int): Float =
        value * 0.875f + ((row * 31 + col * 17 + step) and 15) * 0.015625f

    /** `[i * size / parts]` for `i in 0..parts`: the edges of [parts] nearly equal blocks. */
    fun bounds(size: Int, parts: Int): IntArray = IntArray(parts + 1) { (it.toLong() * size / parts).toInt() }

    /** An `n x n` grid cut into [down] x [across] nearly equal tiles, row by row. */
    fun tiles(n: Int, down: Int, across: Int): List<Tile> {
        val rows = bounds(n, down)
        val cols = bounds(n, across)
        return List(down * across) { k ->
            val i = k / across
            val j = k % across
            Tile(rows[i], cols[j], rows[i + 1] - rows[i], cols[j + 1] - cols[j])
        }
    }

    /** Rows `[row0, row0 + rows)` and columns `[col0, col0 + cols)` of a grid. */
    class Tile(val row0: Int, val col0: Int, val rows: Int, val cols: Int) {
        /** This tile of the 2-D tensor [grid]. */
        fun of(grid: Tensor): Tensor = grid.tile(row0.toLong(), col0.toLong(), rows.toLong(), cols.toLong())

        /** The mirror tile (rows and columns swapped) of [grid]: where a transpose writes this tile. */
        fun transposedOf(grid: Tensor): Tensor = grid.tile(col0.toLong(), row0.toLong(), cols.toLong(), rows.toLong())

        /** This tile grown by a 1-cell border on every side, clipped to an `n x n` grid. */
        fun halo(n: Int): Tile {
            val r0 = maxOf(row0 - 1, 0)
            val c0 = maxOf(col0 - 1, 0)
            return Tile(r0, c0, minOf(row0 + rows + 1, n) - r0, minOf(col0 + cols + 1, n) - c0)
        }

        override fun toString(): String = "[$row0+$rows, $col0+$cols]"
    }

    // --- Task bodies over tensor views ----------------------------------------------------------

    /**
     * Stage (a): writes the stencil of every element of [dst] (the tile at `(row0, col0)` of an `n x n`
     * grid) from [halo], the source view starting at `(haloRow0, haloCol0)` that covers the tile and its
     * in-grid 1-cell border.
     */
    fun stencilTile(halo: Tensor, haloRow0: Int, haloCol0: Int, dst: Tensor, row0: Int, col0: Int, n: Int) {
        // Move whole rows between the views and local arrays (bulk copies), compute on the arrays.
        val hRows = halo.size(0).toInt()
        val hCols = halo.size(1).toInt()
        val h = FloatArray(hRows * hCols)
        for (r in 0 until hRows) halo.readRow(r.toLong(), 0, h, r * hCols, hCols)
        val cols = dst.size(1).toInt()
        val out = FloatArray(cols)
        for (i in 0 until dst.size(0).toInt()) {
            for (j in 0 until cols) {
                out[j] = stencil(row0 + i, col0 + j, n) { r, c -> h[(r - haloRow0) * hCols + (c - haloCol0)] }
            }
            dst.writeRow(i.toLong(), 0, out, 0, cols)
        }
    }

    /**
     * Stage (b): `dst[j, i] = transform(src[i, j])` for the tile [src] at `(row0, col0)`; [dst] is the
     * transposed tile of the destination grid.
     */
    fun transposeTile(src: Tensor, row0: Int, col0: Int, dst: Tensor, step: Int) {
        val rows = src.size(0).toInt()
        val cols = src.size(1).toInt()
        val row = FloatArray(cols)
        val t = FloatArray(rows * cols) // t[j * rows + i] = dst[j, i]
        for (i in 0 until rows) {
            src.readRow(i.toLong(), 0, row, 0, cols)
            for (j in 0 until cols) t[j * rows + i] = transform(row[j], row0 + i, col0 + j, step)
        }
        for (j in 0 until cols) dst.writeRow(j.toLong(), 0, t, j * rows, rows)
    }

    /** Final stage: the row-major sum of a band of rows. */
    fun bandSum(band: Tensor): Float {
        var sum = 0f
        for (i in 0 until band.size(0)) for (j in 0 until band.size(1)) sum += band.getFloat(i, j)
        return sum
    }

    // --- Sequential reference -------------------------------------------------------------------

    /** What the sequential run leaves: the final grid (row-major) and the band sums. */
    class Result(val grid: FloatArray, val bandSums: FloatArray)

    /** Runs every stage of every step one after the other on plain arrays. */
    fun sequential(n: Int, steps: Int): Result {
        var src = FloatArray(n * n) { initial(it / n, it % n) }
        var dst = FloatArray(n * n)
        val tmp = FloatArray(n * n)
        for (step in 0 until steps) {
            val s = src
            for (r in 0 until n) for (c in 0 until n) tmp[r * n + c] = stencil(r, c, n) { i, j -> s[i * n + j] }
            for (r in 0 until n) for (c in 0 until n) dst[c * n + r] = transform(tmp[r * n + c], r, c, step)
            src = dst.also { dst = src }
        }
        val edges = bounds(n, BANDS)
        val sums = FloatArray(BANDS) { m ->
            var sum = 0f
            for (r in edges[m] until edges[m + 1]) for (c in 0 until n) sum += src[r * n + c]
            sum
        }
        return Result(src, sums)
    }
}
