package dev.strata.samples

import dev.strata.dsl.core
import dev.strata.dsl.submit
import dev.strata.task.TaskCallable
import dev.strata.task.TaskContext
import java.lang.foreign.MemorySegment
import java.lang.foreign.ValueLayout

/**
 * The allreduce's chip program and kernels: a reduce-scatter then an all-gather over the domain's `data`
 * buffer, which every chip's window holds and every peer reads through remote views.
 *
 * Rank r owns slice `s_r = [r·M/n, (r+1)·M/n)`. Phase 1: the chip's cores sum slice `s_r` of every rank's
 * `data` and write the sum into `s_r` of their own `data` and of the output (peers read other slices of
 * this window meanwhile, never `s_r`). Barrier. Phase 2: the cores copy every peer's summed slice `s_p`
 * into the output. Each rank reads about 2·M elements and writes M: the bandwidth-optimal schedule.
 */
internal object AllreduceProgram : TaskCallable {
    const val DOMAIN = "allreduce"
    const val BUFFER = "data"

    /** Arguments: tensor 0 the output (device, OUTPUT_EXISTING), tensor 1 the `data` buffer (INOUT), scalar 0 M. */
    override fun call(context: TaskContext) {
        val out = context.tensor(0)
        val data = context.tensor(1)
        val m = context.scalar(0)
        val comm = context.chip.comm(DOMAIN)
        val n = comm.ranks
        val r = comm.rank
        val cores = context.chip.coreCount
        fun part(lo: Long, hi: Long, c: Int) = lo + (hi - lo) * c / cores to lo + (hi - lo) * (c + 1) / cores
        val lo = r * m / n
        val hi = (r + 1) * m / n
        context.worker.run {
            for (c in 0 until cores) {
                val (a, b) = part(lo, hi, c)
                if (a < b) submit(core(c), "reduce-slice", { inout(data.slice(0, a, b)); output(out.slice(0, a, b)) }, ReduceSlice)
            }
        }
        comm.barrier() // every rank's slice is summed
        context.worker.run {
            for (p in 0 until n) {
                if (p == r) continue
                for (c in 0 until cores) {
                    val (a, b) = part(p * m / n, (p + 1) * m / n, c)
                    if (a < b) submit(core(c), "gather-slice", { noDep(data.slice(0, a, b)); output(out.slice(0, a, b)); scalar(p) }, GatherSlice)
                }
            }
        }
        comm.barrier() // no rank leaves while a peer still reads its window
    }
}

/** Sums tensor 0 (a slice of this chip's `data`) over every rank, into tensor 0 and tensor 1 (the output slice). */
internal object ReduceSlice : TaskCallable {
    private const val CHUNK = 16 * 1024

    override fun call(context: TaskContext) {
        val own = context.tensor(0)
        val out = context.tensor(1).asSegment()
        val comm = context.chip.comm(AllreduceProgram.DOMAIN)
        val peers = Array(comm.ranks) { p -> comm.remote(own, p).asSegment() }
        val total = own.elementCount.toInt()
        val acc = IntArray(CHUNK)
        val tmp = IntArray(CHUNK)
        var at = 0
        while (at < total) {
            val k = minOf(CHUNK, total - at)
            val off = at.toLong() * 4
            MemorySegment.copy(peers[0], I32, off, acc, 0, k)
            for (p in 1 until peers.size) {
                MemorySegment.copy(peers[p], I32, off, tmp, 0, k)
                for (i in 0 until k) acc[i] += tmp[i]
            }
            MemorySegment.copy(acc, 0, peers[comm.rank], I32, off, k)
            MemorySegment.copy(acc, 0, out, I32, off, k)
            at += k
        }
    }

    private val I32 = ValueLayout.JAVA_INT
}

/** Copies rank `scalar(0)`'s summed slice — the view of tensor 0 in its window — into tensor 1 (the output slice). */
internal object GatherSlice : TaskCallable {
    override fun call(context: TaskContext) {
        val comm = context.chip.comm(AllreduceProgram.DOMAIN)
        val src = comm.remote(context.tensor(0), context.scalar(0).toInt()).asSegment()
        val dst = context.tensor(1).asSegment()
        MemorySegment.copy(src, 0, dst, 0, dst.byteSize())
    }
}
