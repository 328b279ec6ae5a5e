package dev.strata.samples

import dev.strata.dsl.core
import dev.strata.dsl.submit
import dev.strata.task.TaskCallable
import dev.strata.task.TaskContext
import java.lang.foreign.MemorySegment

/**
 * The allreduce's chip program and kernels: a reduce-scatter then an all-gather over the domain's `data`
 * buffer, which every chip's window holds and every peer reads through remote views.
 *
 * Rank r owns slice `s_r = [r·M/n, (r+1)·M/n)`. Phase 1: the chip's cores sum slice `s_r` of every rank's
 * `data` and write the sum into `s_r` of their own `data` and of the output (peers read other slices of
 * this window meanwhile, never `s_r`). Barrier. Phase 2: the cores copy every peer's summed slice `s_p`
 * into the output. Each rank reads about 2·M elements and writes M: the bandwidth-optimal schedule.
 */
public object AllreduceProgram : TaskCallable {
    /** The communication domain the program uses: every chip of the group must be in it. */
    public const val DOMAIN: String = "allreduce"

    /** The buffer every chip's window in [DOMAIN] holds: M elements of I32. */
    public const val BUFFER: String = "data"

    /**
     * Arguments: tensor 0 the output (device, OUTPUT_EXISTING), tensor 1 the `data` buffer (INOUT), scalar 0 M.
     * Submitted as a group task over the domain's chips; ships in the samples jar, so chips in child JVMs find it.
     */
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

    /** Per core thread: the accumulator and a staging chunk, as arrays and as segments over them. */
    private class Scratch {
        val acc = IntArray(CHUNK)
        val tmp = IntArray(CHUNK)
        val accSeg: MemorySegment = MemorySegment.ofArray(acc)
        val tmpSeg: MemorySegment = MemorySegment.ofArray(tmp)
    }

    private val scratch = ThreadLocal.withInitial { Scratch() }

    override fun call(context: TaskContext) {
        val own = context.tensor(0)
        val out = context.tensor(1).asSegment()
        val comm = context.chip.comm(AllreduceProgram.DOMAIN)
        val peers = Array(comm.ranks) { p -> comm.remote(own, p).asSegment() }
        val mine = peers[comm.rank]
        val s = scratch.get()
        val total = own.elementCount.toInt()
        var at = 0
        while (at < total) {
            val k = minOf(CHUNK, total - at)
            val off = at.toLong() * 4
            val bytes = k.toLong() * 4
            // Bulk byte copies in and out of the chunk, and a plain int loop the JIT vectorises.
            MemorySegment.copy(peers[0], off, s.accSeg, 0, bytes)
            for (p in 1 until peers.size) {
                MemorySegment.copy(peers[p], off, s.tmpSeg, 0, bytes)
                add(s.acc, s.tmp, k)
            }
            MemorySegment.copy(s.accSeg, 0, mine, off, bytes)
            MemorySegment.copy(s.accSeg, 0, out, off, bytes)
            at += k
        }
    }

    private fun add(acc: IntArray, x: IntArray, k: Int) {
        for (i in 0 until k) acc[i] += x[i]
    }
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
