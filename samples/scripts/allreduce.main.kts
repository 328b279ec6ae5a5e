// Allreduce across simulated chips, written as a Kotlin script: every chip holds a vector, and every
// chip must end with the element-wise sum of all of them.
// Run it:  ./strata script samples/scripts/allreduce.main.kts [--chips N] [--elements M] [--isolation process|thread]
//
// The chips share a communication domain: each one's window holds a `data` buffer that its peers can
// read through remote views. One group task runs the chip program on every chip at once:
//   1. reduce-scatter: chip r sums slice r of every peer's `data` (its cores split the slice) and
//      writes the sum back into slice r of its own `data`;
//   2. barrier; then all-gather: chip r copies every peer's summed slice into its own output;
//   3. barrier, so that no chip leaves while a peer still reads its window.
// The kernels are objects declared in this script: with chips in child JVMs (the default) they are
// found there by name, because `strata script` puts the compiled script on the children's classpath.

@file:DependsOn("dev.strata:strata-dsl:0.1.0-SNAPSHOT")

import dev.strata.dsl.chip
import dev.strata.dsl.core
import dev.strata.dsl.submit
import dev.strata.dsl.submitGroup
import dev.strata.dsl.worker
import dev.strata.task.TaskCallable
import dev.strata.task.TaskContext
import dev.strata.tensor.DType
import dev.strata.worker.Isolation

/** Chip program. Tensor 0: this chip's output (device memory); tensor 1: its `data` buffer; scalar 0: elements. */
object AllreduceOnChip : TaskCallable {
    override fun call(context: TaskContext) {
        val output = context.tensor(0)
        val data = context.tensor(1)
        val m = context.scalar(0)
        val comm = context.chip.comm("allreduce")
        val cores = context.chip.coreCount
        fun slice(rank: Int) = rank * m / comm.ranks to (rank + 1) * m / comm.ranks
        fun part(range: Pair<Long, Long>, core: Int) = range.first + (range.second - range.first) * core / cores to
            range.first + (range.second - range.first) * (core + 1) / cores

        val mine = slice(comm.rank)
        context.worker.run { // a level-2 program: the chip's cores are its next-level children
            for (c in 0 until cores) {
                val (lo, hi) = part(mine, c)
                submit(core(c), "reduce", { inout(data.slice(0, lo, hi)); output(output.slice(0, lo, hi)) }, ReduceSlice)
            }
        }
        comm.barrier()
        context.worker.run {
            for (peer in 0 until comm.ranks) if (peer != comm.rank) {
                for (c in 0 until cores) {
                    val (lo, hi) = part(slice(peer), c)
                    submit(core(c), "gather", { noDep(data.slice(0, lo, hi)); output(output.slice(0, lo, hi)); scalar(peer) }, GatherSlice)
                }
            }
        }
        comm.barrier()
    }
}

/** Sums tensor 0 (a slice of `data`) over every rank's window into tensor 0 and tensor 1 (the output slice). */
object ReduceSlice : TaskCallable {
    override fun call(context: TaskContext) {
        val own = context.tensor(0)
        val out = context.tensor(1)
        val comm = context.chip.comm("allreduce")
        val peers = List(comm.ranks) { p -> comm.remote(own, p) }
        for (i in 0L until own.elementCount) {
            var s = 0
            for (p in peers) s += p.getInt(i)
            own.setInt(i, s)
            out.setInt(i, s)
        }
    }
}

/** Copies peer `scalar(0)`'s view of tensor 0 (a summed slice of `data`) into tensor 1 (the output slice). */
object GatherSlice : TaskCallable {
    override fun call(context: TaskContext) {
        val src = context.chip.comm("allreduce").remote(context.tensor(0), context.scalar(0).toInt())
        val dst = context.tensor(1)
        for (i in 0L until dst.elementCount) dst.setInt(i, src.getInt(i))
    }
}

fun option(name: String, default: String): String = args.indexOf(name).let { i -> if (i >= 0 && i + 1 < args.size) args[i + 1] else default }

val n = option("--chips", "4").toInt()
val m = option("--elements", "65536").toLong()
val isolation = Isolation.valueOf(option("--isolation", "process").uppercase())
println("allreduce.main.kts: $n chips (${isolation.name.lowercase()}), 2 cores each, $m I32 elements per chip")

val started = System.nanoTime()
worker(level = 3) {
    chipIsolation = isolation
    chips(0 until n) { cores("aiv", 2) }
    domain("allreduce", chips = 0 until n, windowBytes = (m * 4 + 63) / 64 * 64) { buffer("data", DType.I32, m) }
}.use { w ->
    println("  start-up: ${(System.nanoTime() - started) / 1_000_000} ms")
    val data = List(n) { r -> w.chipContext(r).domain("allreduce").buffer("data") }
    val outputs = List(n) { r -> w.deviceTensor(r, DType.I32, m, label = "output#$r") }
    for (r in 0 until n) {
        val input = w.hostTensor(DType.I32, m)
        for (i in 0L until m) input.setInt(i, (i + 100 * r).toInt())
        w.copyToDevice(data[r], input)
    }

    val t0 = System.nanoTime()
    w.run {
        submitGroup((0 until n).map { chip(it) }, { r -> outputExisting(outputs[r]); inout(data[r]); scalar(m) }, "allreduce", AllreduceOnChip)
    }
    println("  allreduce: ${(System.nanoTime() - t0) / 1_000} µs")

    val offset = 100L * n * (n - 1) / 2
    for (r in 0 until n) {
        val result = w.hostTensor(DType.I32, m)
        w.copyFromDevice(result, outputs[r])
        for (i in 0L until m) {
            val want = (n * i + offset).toInt()
            check(result.getInt(i) == want) { "FAIL: chip $r element $i is ${result.getInt(i)}, expected $want" }
        }
    }
    println("PASS: all $n chips hold n·i + 100·n(n−1)/2 for every element")
}
