// A three-stage signal pipeline on 4 sub workers, written as a Kotlin script.
// Run it:  ./strata script samples/scripts/pipeline.main.kts [--blocks B] [--samples N] [--isolation thread|process]
//
// Stage 1 smooths each block of the signal with a 3-tap filter: it reads its block plus one sample of
// halo on each side (input views that overlap their neighbours'), and writes a temporary from `alloc`.
// Stage 2 rescales each smoothed block into the output. Stage 3 is a group task: 4 members, each sums a
// quarter of the output into its own partial. Strata infers every dependency from the views; the script
// only says which tensor each task reads and writes. The result is checked against plain Kotlin.

@file:DependsOn("dev.strata:strata-dsl:0.1.0-SNAPSHOT")

import dev.strata.dsl.sub
import dev.strata.dsl.submit
import dev.strata.dsl.submitGroup
import dev.strata.dsl.worker
import dev.strata.task.TaskCallable
import dev.strata.task.TaskContext
import dev.strata.tensor.DType
import dev.strata.worker.Isolation

/** Tensor 0: block plus halo (input); tensor 1: smoothed block (output); scalar 0: 1 if the halo has a left sample. */
object Smooth : TaskCallable {
    override fun call(context: TaskContext) {
        val src = context.tensor(0)
        val dst = context.tensor(1)
        val left = context.scalar(0).toInt()
        for (i in 0L until dst.elementCount) {
            val c = i + left
            val a = src.getFloat(maxOf(c - 1, 0L))
            val b = src.getFloat(c)
            val d = src.getFloat(minOf(c + 1, src.elementCount - 1))
            dst.setFloat(i, (a + 2 * b + d) / 4)
        }
    }
}

/** Tensor 0 (input) times 3, plus 1, into tensor 1 (output). */
object Rescale : TaskCallable {
    override fun call(context: TaskContext) {
        val src = context.tensor(0)
        val dst = context.tensor(1)
        for (i in 0L until src.elementCount) dst.setFloat(i, src.getFloat(i) * 3 + 1)
    }
}

/** Sums tensor 0 (input) into element 0 of tensor 1 (output), in double precision. */
object PartialSum : TaskCallable {
    override fun call(context: TaskContext) {
        val src = context.tensor(0)
        var s = 0.0
        for (i in 0L until src.elementCount) s += src.getFloat(i)
        context.tensor(1).setFloat(0, s.toFloat())
    }
}

fun option(name: String, default: String): String = args.indexOf(name).let { i -> if (i >= 0 && i + 1 < args.size) args[i + 1] else default }

val samples = option("--samples", "65536").toLong()
val blocks = option("--blocks", "16").toInt()
val isolation = Isolation.valueOf(option("--isolation", "thread").uppercase())
require(samples % blocks == 0L) { "--samples ($samples) must be a multiple of --blocks ($blocks)" }
val block = samples / blocks
println("pipeline.main.kts: $samples samples in $blocks blocks on 4 sub workers (${isolation.name.lowercase()})")

worker(level = 3) { subWorkers(4, isolation) }.use { w ->
    val signal = w.hostTensor(DType.F32, samples, label = "signal")
    val output = w.hostTensor(DType.F32, samples, label = "output")
    val partials = w.hostTensor(DType.F32, 4, label = "partials")
    for (i in 0L until samples) signal.setFloat(i, ((i * 7919) % 1000).toFloat() / 1000f)

    w.run {
        scope {
            val smoothed = alloc(DType.F32, samples)
            for (b in 0 until blocks) {
                val lo = b * block
                val hi = lo + block
                val haloLo = maxOf(lo - 1, 0L)
                val haloHi = minOf(hi + 1, samples)
                submit(sub, "smooth#$b", { input(signal.slice(0, haloLo, haloHi)); output(smoothed.slice(0, lo, hi)); scalar(lo - haloLo) }, Smooth)
                submit(sub, "rescale#$b", { input(smoothed.slice(0, lo, hi)); output(output.slice(0, lo, hi)) }, Rescale)
            }
        }
        submitGroup(sub, 4, { m -> input(output.slice(0, m * samples / 4, (m + 1) * samples / 4)); output(partials.slice(0, m.toLong(), m + 1L)) }, "sum", PartialSum)
    }

    // The same computation in plain Kotlin, element by element.
    fun at(i: Long) = ((i * 7919) % 1000).toFloat() / 1000f
    var expected = 0.0
    val quarter = DoubleArray(4)
    for (i in 0L until samples) {
        val b = i / block
        val lo = maxOf(b * block - 1, 0L)
        val hi = minOf((b + 1) * block + 1, samples)
        val s = (at(maxOf(i - 1, lo)) + 2 * at(i) + at(minOf(i + 1, hi - 1))) / 4
        val r = s * 3 + 1
        check(output.getFloat(i) == r) { "FAIL: output[$i] is ${output.getFloat(i)}, expected $r" }
        quarter[(i / (samples / 4)).toInt()] += r.toDouble()
    }
    for (m in 0 until 4) {
        check(partials.getFloat(m.toLong()) == quarter[m].toFloat()) { "FAIL: partial $m is ${partials.getFloat(m.toLong())}, expected ${quarter[m].toFloat()}" }
        expected += quarter[m].toFloat()
    }
    println("  sum of the output: ${"%.3f".format(java.util.Locale.ROOT, expected)}")
    println("PASS: every output sample and all 4 partial sums match the sequential computation")
}
