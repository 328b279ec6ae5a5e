package dev.strata.samples

import dev.strata.chip.ChipConfig
import dev.strata.chip.sim.SimKernel
import dev.strata.chip.sim.SimKernelBinary
import dev.strata.chip.sim.blockRange
import dev.strata.task.KernelArgs
import dev.strata.task.TaskCallable
import dev.strata.task.TaskContext
import java.io.File
import java.lang.foreign.ValueLayout

/**
 * The allreduce as a device program (`--driver acl`, and `sim` too): the chip fills its rank's input with
 * the kernel `fill_rank` (`data[i] = i + 100·rank`, from `samples/src/main/c/allreduce_kernels.c` under
 * `acl`, from [AllreduceSimKernels] under `sim`), then the device's own collective sums every rank's
 * `data` into the output (`HcclAllReduce` under `acl`).
 *
 * Arguments: tensor 0 the output (device, OUTPUT_EXISTING), tensor 1 the domain's `data` buffer (INOUT), scalar 0 M,
 * scalar 1 (optional, 0 when absent) the global rank of the domain's rank 0 (`--hosts`: `host · chips`).
 */
internal object AllreduceDeviceProgram : TaskCallable {
    override fun call(context: TaskContext) {
        val out = context.tensor(0)
        val data = context.tensor(1)
        val chip = context.chip
        val comm = chip.comm(AllreduceProgram.DOMAIN)
        val fill = chip.kernel(AllreduceKernelFiles.binary(chip.driver), "fill_rank")
        // Global rank: this chip's rank in its domain plus the host's first rank (scalar 1; 0 on one host).
        val rank = comm.rank + (if (context.args.scalarCount > 1) context.scalar(1).toInt() else 0)
        chip.launch(fill, maxOf(1, chip.coreCount), KernelArgs.Builder().pointer(data).long(data.elementCount).int(rank).build())
        comm.allReduce(data, out)
    }
}

/** The sim driver's build of the sample's kernels: the same names and argument blocks as the C ones. */
internal object AllreduceSimKernels : SimKernelBinary {
    override val kernels: Map<String, SimKernel> = mapOf(
        // args: { int32_t *data; uint64_t n; int32_t rank; }
        "fill_rank" to SimKernel { args, block, blocks, memory ->
            val data = args.get(ValueLayout.JAVA_LONG, 0)
            val n = args.get(ValueLayout.JAVA_LONG, 8)
            val rank = args.get(ValueLayout.JAVA_INT, 16)
            val mine = blockRange(n, block, blocks)
            if (!mine.isEmpty()) {
                val seg = memory.deviceView(data + mine.first * 4, (mine.last - mine.first + 1) * 4)
                for (i in mine) seg.setAtIndex(ValueLayout.JAVA_INT, i - mine.first, (i + 100L * rank).toInt())
            }
        },
    )
}

/** Where the sample's kernel binary for a driver is. */
internal object AllreduceKernelFiles {
    const val FILE = "liballreduce_kernels.so"

    /** The module `fill_rank` lives in under [driver]: a class name under `sim`, the shared object's path under `acl`. */
    fun binary(driver: String): String = if (driver == ChipConfig.SIM) AllreduceSimKernels::class.java.name else aclKernels().path

    /**
     * The built C kernels: `-Dstrata.samples.kernels` or `STRATA_SAMPLE_KERNELS` (a directory), else next to
     * the samples' classes or jar (`samples/target/kernels`, also from the `./strata` jar). Throws naming
     * every place looked at when none has it.
     */
    fun aclKernels(): File {
        val explicit = (System.getProperty("strata.samples.kernels") ?: System.getenv("STRATA_SAMPLE_KERNELS"))?.let { File(it, FILE) }
        val candidates = buildList {
            explicit?.let(::add)
            val here = runCatching { File(AllreduceKernelFiles::class.java.protectionDomain.codeSource.location.toURI()) }.getOrNull()
            if (here != null) {
                if (here.isDirectory) add(File(here.parentFile, "kernels/$FILE")) // samples/target/classes
                else {
                    add(File(here.parentFile, "kernels/$FILE")) // samples/target/strata-samples.jar
                    add(File(here.parentFile, "../../samples/target/kernels/$FILE")) // cli/target/strata-cli.jar
                }
            }
        }
        return candidates.firstOrNull { it.isFile }?.canonicalFile ?: throw IllegalStateException(
            "the allreduce sample's acl kernels ($FILE) are not built; looked at ${candidates.joinToString { it.path }}. " +
                "Build them with samples/src/main/c/build.sh DIR (needs gcc; the Maven build runs it) or point -Dstrata.samples.kernels at DIR",
        )
    }
}
