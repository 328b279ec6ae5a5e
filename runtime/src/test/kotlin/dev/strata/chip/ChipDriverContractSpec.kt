package dev.strata.chip

import dev.strata.chip.acl.AclChipDriver
import dev.strata.chip.sim.SimChipDriver
import dev.strata.chip.sim.SimKernel
import dev.strata.chip.sim.SimKernelBinary
import dev.strata.chip.sim.blockRange
import dev.strata.task.KernelArgs
import dev.strata.task.ReduceOp
import dev.strata.tensor.DType
import io.kotest.assertions.throwables.shouldThrow
import io.kotest.assertions.throwables.shouldThrowAny
import io.kotest.core.spec.style.FunSpec
import io.kotest.core.test.Enabled
import io.kotest.core.test.TestCase
import io.kotest.matchers.longs.shouldBeLessThan
import io.kotest.matchers.shouldBe
import io.kotest.matchers.string.shouldContain
import java.io.File
import java.lang.foreign.Arena
import java.lang.foreign.MemorySegment
import java.lang.foreign.ValueLayout
import java.util.concurrent.CompletableFuture
import java.util.concurrent.TimeUnit
import java.util.concurrent.TimeoutException
import kotlin.time.Duration.Companion.milliseconds
import kotlin.time.Duration.Companion.seconds

/** The contract's kernels for the sim driver, in the emulator kernels' ABI (`test_kernels.c`). */
internal object ContractSimKernels : SimKernelBinary {
    override val kernels: Map<String, SimKernel> = mapOf(
        // args: { int32_t *data; uint64_t n; int32_t add; }
        "add_i32" to SimKernel { args, block, blocks, memory ->
            val data = args.get(ValueLayout.JAVA_LONG, 0)
            val n = args.get(ValueLayout.JAVA_LONG, 8)
            val add = args.get(ValueLayout.JAVA_INT, 16)
            val mine = blockRange(n, block, blocks)
            if (!mine.isEmpty()) {
                val seg = memory.deviceView(data + mine.first * 4, (mine.last - mine.first + 1) * 4)
                for (i in 0 until seg.byteSize() / 4) seg.setAtIndex(ValueLayout.JAVA_INT, i, seg.getAtIndex(ValueLayout.JAVA_INT, i) + add)
            }
        },
        // args: { uint64_t millis; }
        "sleep_ms" to SimKernel { args, _, _, _ -> Thread.sleep(args.get(ValueLayout.JAVA_LONG, 0)) },
    )
}

/** Runs each task on a thread of its own (ranks must run at once; the common pool may have one thread). */
internal val ownThread = java.util.concurrent.Executor { Thread(it).apply { isDaemon = true }.start() }

/** How the contract reaches one driver: a new driver, and the module holding `add_i32` and `sleep_ms`. */
internal class DriverUnderTest(val name: String, val make: () -> ChipDriver, val binary: String, val available: String?)

/** The ACL emulator built by native-bindings (`strata.ascend.home`), or why it cannot be used. */
internal val emulatorHome: String? = System.getProperty("strata.ascend.home")
internal val emulatorMissing: String? = when {
    emulatorHome == null -> "strata.ascend.home is not set"
    !File(emulatorHome, "lib64/libascendcl.so").isFile -> "the ACL emulator is not built at $emulatorHome (gcc missing?)"
    else -> null
}

internal val DRIVERS = listOf(
    DriverUnderTest("sim", ::SimChipDriver, ContractSimKernels::class.java.name, null),
    DriverUnderTest("acl", ::AclChipDriver, "$emulatorHome/kernels/test_kernels.so", emulatorMissing),
)

/**
 * One contract for every [ChipDriver] (issue 14 §2): memory through copies only, binaries loaded and
 * launched on streams with packed arguments, a bounded synchronize, communicators from the root's info
 * with zeroed windows, a barrier and an all-reduce, and bounded bring-up when a peer never joins. The
 * same tests run against `sim` and `acl` (on the emulator; skipped with the reason where it is not built).
 */
class ChipDriverContractSpec : FunSpec({
    for (d in DRIVERS) {
        val enabled: (TestCase) -> Enabled = { if (d.available == null) Enabled.enabled else Enabled.disabled(d.available) }
        fun opened(device: Int = 0, config: ChipConfig = ChipConfig(device, commTimeout = 10.seconds)) = d.make().also { it.open(device, config) }

        test("${d.name}: memory is reached through copies; a bad free is refused").config(enabledOrReasonIf = enabled) {
            opened().use { drv ->
                drv.name shouldBe d.name
                Arena.ofConfined().use { a ->
                    val src = a.allocate(4096).also { s -> for (i in 0 until 1024L) s.setAtIndex(ValueLayout.JAVA_INT, i, i.toInt() * 3) }
                    val p = drv.malloc(4096)
                    drv.copyToDevice(p, src)
                    val back = a.allocate(4096)
                    drv.copyFromDevice(back, p)
                    back.mismatch(src) shouldBe -1L
                    drv.free(p)
                    shouldThrowAny { drv.free(p) }
                }
            }
        }

        test("${d.name}: a binary's kernel runs on a stream with packed arguments, its blocks splitting the work").config(enabledOrReasonIf = enabled) {
            opened().use { drv ->
                val n = 1000L
                val p = drv.malloc(n * 4)
                Arena.ofConfined().use { a ->
                    val host = a.allocate(n * 4).also { s -> for (i in 0 until n) s.setAtIndex(ValueLayout.JAVA_INT, i, i.toInt()) }
                    drv.copyToDevice(p, host)
                    val f = drv.function(drv.loadBinary(d.binary), "add_i32")
                    val s = drv.createStream()
                    val args = KernelArgs.Builder().long(p).long(n).int(7).build().toByteArray()
                    drv.launchKernel(f, "add_i32", 4, MemorySegment.ofArray(args).let { a.allocate(args.size.toLong()).copyFrom(it) }, s)
                    drv.launchKernel(f, "add_i32", 3, MemorySegment.ofArray(args).let { a.allocate(args.size.toLong()).copyFrom(it) }, s)
                    drv.synchronize(s, 10.seconds)
                    drv.copyFromDevice(host, p)
                    for (i in 0 until n) host.getAtIndex(ValueLayout.JAVA_INT, i) shouldBe i.toInt() + 14
                    drv.destroyStream(s)
                }
            }
        }

        test("${d.name}: an unknown kernel is named; a synchronize past its timeout throws TimeoutException").config(enabledOrReasonIf = enabled) {
            opened().use { drv ->
                val bin = drv.loadBinary(d.binary)
                shouldThrowAny { drv.function(bin, "no_such_kernel") }.message shouldContain "no_such_kernel"
                val f = drv.function(bin, "sleep_ms")
                val s = drv.createStream()
                Arena.ofConfined().use { a ->
                    val args = a.allocate(8).also { it.set(ValueLayout.JAVA_LONG, 0, 1500) }
                    drv.launchKernel(f, "sleep_ms", 1, args, s)
                    val t0 = System.nanoTime()
                    shouldThrow<TimeoutException> { drv.synchronize(s, 200.milliseconds) }
                    (System.nanoTime() - t0) / 1_000_000 shouldBeLessThan 1400L
                    drv.synchronize(s, 10.seconds) // the work ends; the stream is usable again
                }
            }
        }

        test("${d.name}: a domain from the root's info: zeroed windows, a barrier, an all-reduce on every rank").config(enabledOrReasonIf = enabled) {
            val ranks = 3
            val n = 70_000L // more than one chunk of a simulated collective
            val spec = CommDomainSpec("contract", (0 until ranks).toList(), 8192)
            val drivers = List(ranks) { opened(it) }
            try {
                val root = drivers[0].commRootInfo(spec)
                val domains = drivers.mapIndexed { r, drv ->
                    CompletableFuture.supplyAsync({ drv.commInit(spec, r, root, 10.seconds) }, ownThread)
                }.map { it.get(30, TimeUnit.SECONDS) }
                Arena.ofConfined().use { a ->
                    for ((r, dd) in domains.withIndex()) {
                        dd.rank shouldBe r
                        dd.ranks shouldBe ranks
                        val w = a.allocate(dd.windowSize)
                        w.fill(1)
                        drivers[r].copyFromDevice(w, dd.windowBase)
                        w.mismatch(a.allocate(dd.windowSize)) shouldBe -1L // all zero
                    }
                    val sends = drivers.mapIndexed { r, drv ->
                        drv.malloc(n * 4).also { p ->
                            drv.copyToDevice(p, a.allocate(n * 4).also { s -> for (i in 0 until n) s.setAtIndex(ValueLayout.JAVA_INT, i, (i + 100 * r).toInt()) })
                        }
                    }
                    val recvs = drivers.map { it.malloc(n * 4) }
                    val streams = drivers.map { it.createStream() }
                    (0 until ranks).map { r ->
                        CompletableFuture.runAsync({
                            domains[r].barrier(10.seconds)
                            domains[r].allReduce(sends[r], recvs[r], n, DType.I32, ReduceOp.SUM, streams[r])
                            drivers[r].synchronize(streams[r], 20.seconds)
                        }, ownThread)
                    }.forEach { it.get(60, TimeUnit.SECONDS) }
                    for (r in 0 until ranks) {
                        val out = a.allocate(n * 4)
                        drivers[r].copyFromDevice(out, recvs[r])
                        for (i in 0 until n) out.getAtIndex(ValueLayout.JAVA_INT, i) shouldBe (ranks * i + 100 * ranks * (ranks - 1) / 2).toInt()
                    }
                }
                domains.forEach { it.close() }
            } finally {
                drivers.forEach { it.close() }
            }
        }

        test("${d.name}: a member that never joins: the others' bring-up fails within its timeout").config(enabledOrReasonIf = enabled) {
            val spec = CommDomainSpec("lonely", listOf(0, 1), 4096)
            opened(0).use { drv ->
                val root = drv.commRootInfo(spec)
                val t0 = System.nanoTime()
                shouldThrowAny { drv.commInit(spec, 0, root, 1.seconds) }
                (System.nanoTime() - t0) / 1_000_000 shouldBeLessThan 8_000L
            }
            // Nothing is left behind once the driver's own bring-up gave up (HCCL_CONNECT_TIMEOUT is 5 s in the tests).
            val pid = ProcessHandle.current().pid()
            fun leftovers() = File("/dev/shm").list()!!.filter { it.startsWith("hccl-emu-$pid-") || it.startsWith("strata-$pid-comm") }
            val until = System.nanoTime() + 15_000_000_000L
            while (leftovers().isNotEmpty() && System.nanoTime() < until) Thread.sleep(100)
            leftovers() shouldBe emptyList()
        }
    }
})
