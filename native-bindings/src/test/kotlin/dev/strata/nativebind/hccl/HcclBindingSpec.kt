package dev.strata.nativebind.hccl

import dev.strata.nativebind.acl.Acl
import io.kotest.assertions.throwables.shouldThrow
import io.kotest.assertions.withClue
import io.kotest.core.spec.style.FunSpec
import io.kotest.core.test.Enabled
import io.kotest.matchers.shouldBe
import io.kotest.matchers.string.shouldContain
import java.lang.foreign.Arena
import java.lang.foreign.MemorySegment
import java.lang.foreign.ValueLayout
import java.nio.file.Files
import java.nio.file.Path
import java.util.HexFormat
import java.util.concurrent.CompletableFuture
import java.util.concurrent.TimeUnit

private val home: Path? = System.getProperty("strata.ascend.home")?.let(Path::of)
private val built = home != null && Files.isRegularFile(home.resolve("lib64/libhccl.so"))

/**
 * One rank in its own JVM: `<rank> <nRanks> <root info as hex>`; binds device `rank`, joins, all-reduces
 * 1000 INT64 values (rank + i) and prints the sum it got for element 7 (what the parent checks).
 */
object HcclRankMain {
    @JvmStatic
    fun main(args: Array<String>) {
        val rank = args[0].toInt()
        val n = args[1].toInt()
        val ri = HexFormat.of().parseHex(args[2])
        Acl.init()
        Acl.setDevice(rank)
        val comm = Hccl.initRank(n, ri, rank)
        val stream = Acl.createStream()
        val buf = Acl.malloc(8000)
        Arena.ofConfined().use { a ->
            val host = a.allocate(8000)
            for (i in 0 until 1000L) host.setAtIndex(ValueLayout.JAVA_LONG, i, rank + i)
            Acl.copyToDevice(buf, host)
            Hccl.allReduce(buf, buf, 1000, hccl_h.HCCL_DATA_TYPE_INT64, hccl_h.HCCL_REDUCE_SUM, comm, stream)
            Acl.synchronize(stream, 30_000) // the collective is queued on the stream, as on hardware
            Acl.copyFromDevice(host, buf)
            println("element7=" + host.getAtIndex(ValueLayout.JAVA_LONG, 7))
        }
        Hccl.destroy(comm)
    }
}

/** HCCL through the bindings against the emulator: one thread per rank (one device each), as HCCL allows, and ranks in separate JVMs. */
class HcclBindingSpec : FunSpec({
    val needsEmulator: (io.kotest.core.test.TestCase) -> Enabled = {
        if (built) Enabled.enabled else Enabled.disabled("the HCCL emulator is not built (gcc missing?)")
    }

    test("root info on rank 0, every rank joins, rank and size, barrier, FP32 all-reduce SUM is exact, destroy").config(enabledOrReasonIf = needsEmulator) {
        Acl.init()
        val n = 4
        val count = 300_000L // more than one slot of the emulator: the chunked path
        val root = CompletableFuture<ByteArray>()
        val ranks = (0 until n).map { r ->
            CompletableFuture.supplyAsync({
                Acl.setDevice(r)
                if (r == 0) root.complete(Hccl.rootInfo())
                val comm = Hccl.initRank(n, root.get(10, TimeUnit.SECONDS), r)
                Hccl.rankAndSize(comm).toList() shouldBe listOf(r, n)
                val stream = Acl.createStream()
                Hccl.barrier(comm, stream)
                val send = Acl.malloc(count * 4)
                val recv = Acl.malloc(count * 4)
                Arena.ofConfined().use { a ->
                    val host = a.allocate(count * 4)
                    for (i in 0 until count) host.setAtIndex(ValueLayout.JAVA_FLOAT, i, (i % 1000 + r * 100).toFloat())
                    Acl.copyToDevice(send, host)
                    Hccl.allReduce(send, recv, count, hccl_h.HCCL_DATA_TYPE_FP32, hccl_h.HCCL_REDUCE_SUM, comm, stream)
                    Acl.synchronize(stream, 10_000)
                    Acl.copyFromDevice(host, recv)
                    (0 until count).all { i -> host.getAtIndex(ValueLayout.JAVA_FLOAT, i) == (n * (i % 1000) + 100 * n * (n - 1) / 2).toFloat() }
                }.also { ok -> ok shouldBe true }
                Acl.free(send)
                Acl.free(recv)
                Acl.destroyStream(stream)
                Hccl.destroy(comm)
                r
            }, { Thread(it).start() })
        }
        ranks.map { it.get(60, TimeUnit.SECONDS) } shouldBe (0 until n).toList()
    }

    test("ranks in separate processes: the root info travels as bytes, every JVM gets the exact sum").config(enabledOrReasonIf = needsEmulator) {
        Acl.init()
        val n = 3
        val ri = CompletableFuture.supplyAsync({ Acl.setDevice(0); Hccl.rootInfo() }, { Thread(it).start() }).get(10, TimeUnit.SECONDS)
        val java = Path.of(System.getProperty("java.home"), "bin", "java").toString()
        val procs = (0 until n).map { r ->
            ProcessBuilder(
                java, "--enable-native-access=ALL-UNNAMED", "-Dstrata.ascend.home=$home", "-cp", System.getProperty("java.class.path"),
                HcclRankMain::class.java.name, r.toString(), n.toString(), HexFormat.of().formatHex(ri),
            ).redirectErrorStream(true).start()
        }
        try {
            for (p in procs) {
                p.waitFor(60, TimeUnit.SECONDS) shouldBe true
                val out = p.inputStream.bufferedReader().readText()
                withClue(out) { p.exitValue() shouldBe 0 }
                out shouldContain "element7=${(0 until n).sum() + n * 7}"
            }
        } finally {
            procs.forEach { it.destroyForcibly() }
        }
        Files.list(Path.of("/dev/shm")).use { s -> s.filter { it.fileName.toString().startsWith("hccl-emu-") }.count() } shouldBe 0L
    }

    test("FP16 and BF16 all-reduce (reduced in float, rounded to nearest even), and an unknown data type is HCCL_E_NOT_SUPPORT").config(enabledOrReasonIf = needsEmulator) {
        Acl.init()
        val n = 2
        val root = CompletableFuture<ByteArray>()
        // 1.5 + 2.25 = 3.75 exactly in both formats: FP16 0x3E00 + 0x4080 = 0x4380; BF16 0x3FC0 + 0x4010 = 0x4070.
        val inputs = mapOf(hccl_h.HCCL_DATA_TYPE_FP16 to listOf(0x3E00, 0x4080), hccl_h.HCCL_DATA_TYPE_BFP16 to listOf(0x3FC0, 0x4010))
        val expected = mapOf(hccl_h.HCCL_DATA_TYPE_FP16 to 0x4380, hccl_h.HCCL_DATA_TYPE_BFP16 to 0x4070)
        val results = (0 until n).map { r ->
            CompletableFuture.supplyAsync({
                Acl.setDevice(r)
                if (r == 0) root.complete(Hccl.rootInfo())
                val comm = Hccl.initRank(n, root.get(10, TimeUnit.SECONDS), r)
                val stream = Acl.createStream()
                val buf = Acl.malloc(2)
                val got = inputs.map { (dt, values) ->
                    Arena.ofConfined().use { a ->
                        val host = a.allocate(2).also { it.set(ValueLayout.JAVA_SHORT, 0, values[r].toShort()) }
                        Acl.copyToDevice(buf, host)
                        Hccl.allReduce(buf, buf, 1, dt, hccl_h.HCCL_REDUCE_SUM, comm, stream)
                        Acl.synchronize(stream, 30_000)
                        Acl.copyFromDevice(host, buf)
                        dt to (host.get(ValueLayout.JAVA_SHORT, 0).toInt() and 0xffff)
                    }
                }.toMap()
                val unsupported = runCatching { Hccl.allReduce(buf, buf, 1, 99, hccl_h.HCCL_REDUCE_SUM, comm, stream) }.exceptionOrNull()
                (unsupported as HcclException).code() shouldBe 5
                Acl.free(buf)
                Acl.destroyStream(stream)
                Hccl.destroy(comm)
                got
            }, { Thread(it).start() })
        }
        for (f in results) f.get(60, TimeUnit.SECONDS) shouldBe expected
    }

    test("errors are typed: root info without a device, a wrong rank; a communicator's destroy removes its rendezvous").config(enabledOrReasonIf = needsEmulator) {
        Acl.init()
        val noDevice = CompletableFuture.supplyAsync({ runCatching { Hccl.rootInfo() }.exceptionOrNull() }, { Thread(it).start() }).get(10, TimeUnit.SECONDS)
        (noDevice as HcclException).code() shouldBe Hccl.HCCL_E_RUNTIME
        noDevice.message!! shouldContain "HCCL_E_RUNTIME"
        val ri = CompletableFuture.supplyAsync({ Acl.setDevice(5); Hccl.rootInfo() }, { Thread(it).start() }).get(10, TimeUnit.SECONDS)
        shouldThrow<HcclException> { Hccl.initRank(2, ri, 7) }.code() shouldBe Hccl.HCCL_E_PARA
        // A join that waits for a rank that never comes ends at HCCL_CONNECT_TIMEOUT; here a one-rank
        // communicator joins at once and its destroy removes the rendezvous (nothing left in /dev/shm).
        Hccl.destroy(Hccl.initRank(1, ri, 0))
        Files.list(Path.of("/dev/shm")).use { s -> s.filter { it.fileName.toString().startsWith("hccl-emu-") }.count() } shouldBe 0L
        shouldThrow<IllegalArgumentException> { Hccl.initRank(2, ByteArray(10), 0) }
        Hccl.resultName(9) shouldBe "HCCL_E_TIMEOUT"
        MemorySegment.NULL.address() shouldBe 0L
    }
})
