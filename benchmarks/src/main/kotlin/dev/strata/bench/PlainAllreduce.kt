package dev.strata.bench

import java.lang.foreign.Arena
import java.lang.foreign.MemorySegment
import java.lang.foreign.ValueLayout
import java.util.concurrent.CyclicBarrier
import java.util.concurrent.TimeUnit

/**
 * The allreduce sample's algorithm done by plain threads with no runtime (issue 17, goal 3): the
 * denominator of `allreduce_efficiency`. The same layout as the sample's domain — one window of M I32
 * per rank and one output per rank, in native memory — and the same schedule: rank r sums slice
 * `s_r = [r·M/n, (r+1)·M/n)` of every window into its own window and output (chunks of 16 Ki elements:
 * bulk copies and a plain int loop, as `ReduceSlice` does), a barrier, then copies every peer's summed
 * slice into its output, and a barrier. [threads] threads share the ranks round-robin (one per rank, or
 * one per CPU). Before each iteration every window is refilled from the inputs, untimed, as the sample's
 * `copyToDevice` does.
 */
internal class PlainAllreduce(private val ranks: Int, private val elements: Long, private val threads: Int) : AutoCloseable {
    private val arena = Arena.ofShared()
    private val bytes = elements * 4
    private val inputs = Array(ranks) { r -> arena.allocate(bytes, 64).also { s -> for (i in 0 until elements) s.setAtIndex(ValueLayout.JAVA_INT, i, (i + 100 * r).toInt()) } }
    private val windows = Array(ranks) { arena.allocate(bytes, 64) }
    private val outputs = Array(ranks) { arena.allocate(bytes, 64) }
    private val phase = CyclicBarrier(threads)
    private val start = CyclicBarrier(threads + 1)
    private val end = CyclicBarrier(threads + 1)

    @Volatile
    private var stop = false
    private val workers = List(threads) { t ->
        Thread({ loop(t) }, "plain-allreduce-$t").apply { isDaemon = true; start() }
    }

    private fun loop(t: Int) {
        val acc = IntArray(CHUNK)
        val tmp = IntArray(CHUNK)
        val accSeg = MemorySegment.ofArray(acc)
        val tmpSeg = MemorySegment.ofArray(tmp)
        try {
            while (true) {
                start.await()
                if (stop) return
                var r = t
                while (r < ranks) {
                    reduce(r, acc, tmp, accSeg, tmpSeg)
                    r += threads
                }
                phase.await()
                r = t
                while (r < ranks) {
                    gather(r)
                    r += threads
                }
                end.await()
            }
        } catch (_: Exception) {
            // closed
        }
    }

    private fun reduce(r: Int, acc: IntArray, tmp: IntArray, accSeg: MemorySegment, tmpSeg: MemorySegment) {
        val lo = r * elements / ranks
        val hi = (r + 1) * elements / ranks
        var at = lo
        while (at < hi) {
            val k = minOf(CHUNK.toLong(), hi - at).toInt()
            val off = at * 4
            val n = k.toLong() * 4
            MemorySegment.copy(windows[0], off, accSeg, 0, n)
            for (p in 1 until ranks) {
                MemorySegment.copy(windows[p], off, tmpSeg, 0, n)
                for (i in 0 until k) acc[i] += tmp[i]
            }
            MemorySegment.copy(accSeg, 0, windows[r], off, n)
            MemorySegment.copy(accSeg, 0, outputs[r], off, n)
            at += k
        }
    }

    private fun gather(r: Int) {
        for (p in 0 until ranks) {
            if (p == r) continue
            val lo = p * elements / ranks
            val hi = (p + 1) * elements / ranks
            MemorySegment.copy(windows[p], lo * 4, outputs[r], lo * 4, (hi - lo) * 4)
        }
    }

    /** One allreduce: windows refilled (untimed), then the timed two phases; its seconds. */
    fun iterate(): Double {
        for (r in 0 until ranks) MemorySegment.copy(inputs[r], 0, windows[r], 0, bytes)
        val t0 = System.nanoTime()
        start.await(30, TimeUnit.SECONDS)
        end.await(30, TimeUnit.SECONDS)
        return (System.nanoTime() - t0) / 1e9
    }

    /** Whether every output holds `n·i + 100·n(n−1)/2` (the last iteration's result). */
    fun correct(): Boolean {
        val offset = 100L * ranks * (ranks - 1) / 2
        for (r in 0 until ranks) for (i in 0 until elements) {
            if (outputs[r].getAtIndex(ValueLayout.JAVA_INT, i) != (ranks * i + offset).toInt()) return false
        }
        return true
    }

    override fun close() {
        stop = true
        runCatching { start.await(5, TimeUnit.SECONDS) }
        workers.forEach { it.join(5_000) }
        arena.close()
    }

    companion object {
        private const val CHUNK = 16 * 1024

        /**
         * Median seconds of [iterations] allreduces (after at least [warmup] runs and [warmupMillis] of them)
         * with one thread per rank and with one thread per CPU; the faster configuration wins. Returns
         * (median seconds, threads used).
         */
        fun best(ranks: Int, elements: Long, warmup: Int, iterations: Int, warmupMillis: Long = 0): Pair<Double, Int> {
            val cpus = Runtime.getRuntime().availableProcessors()
            return listOf(ranks, minOf(ranks, cpus)).distinct().map { t ->
                PlainAllreduce(ranks, elements, t).use { p ->
                    val warmStart = System.nanoTime()
                    var warmed = 0
                    while (warmed < warmup || (System.nanoTime() - warmStart) / 1_000_000 < warmupMillis) {
                        p.iterate()
                        warmed++
                    }
                    val times = DoubleArray(iterations) { p.iterate() }
                    check(p.correct()) { "the plain-thread allreduce ($ranks ranks, $t threads) computed a wrong result" }
                    times.sorted()[iterations / 2] to t
                }
            }.minBy { it.first }
        }
    }
}
