package dev.strata.nativebind.acl

import io.kotest.assertions.throwables.shouldThrow
import io.kotest.core.spec.style.FunSpec
import io.kotest.core.test.Enabled
import io.kotest.matchers.shouldBe
import io.kotest.matchers.shouldNotBe
import io.kotest.matchers.string.shouldContain
import io.kotest.matchers.string.shouldStartWith
import java.lang.foreign.Arena
import java.lang.foreign.FunctionDescriptor
import java.lang.foreign.Linker
import java.lang.foreign.MemorySegment
import java.lang.foreign.ValueLayout
import java.nio.file.Files
import java.nio.file.Path
import java.util.concurrent.CompletableFuture

/** The emulator's fault knob (not an ACL symbol): the next [count] calls of [fn] fail with [code]; -1 = every call, code 0 clears. */
private fun injectFault(fn: String, code: Int, count: Int = 1) {
    val h = Linker.nativeLinker().downcallHandle(
        AclLibrary.lookup().find("aclEmuInjectFault").orElseThrow(),
        FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.ADDRESS, ValueLayout.JAVA_INT, ValueLayout.JAVA_INT),
    )
    Arena.ofConfined().use { a -> (h.invokeExact(a.allocateFrom(fn), code, count) as Int) shouldBe 0 }
}

private val home: Path? = System.getProperty("strata.ascend.home")?.let(Path::of)
private val emulatorBuilt = home != null && Files.isRegularFile(home.resolve("lib64/libascendcl.so"))
private val kernels: String get() = home!!.resolve("kernels/test_kernels.so").toAbsolutePath().toString()

/** Runs [block] on a fresh thread (ACL binds devices per thread) and returns its result or rethrows. */
private fun <T> onNewThread(block: () -> T): T {
    val f = CompletableFuture<T>()
    Thread { runCatching(block).fold(f::complete, f::completeExceptionally) }.apply { start(); join(30_000) }
    return try {
        f.get(30, java.util.concurrent.TimeUnit.SECONDS)
    } catch (e: java.util.concurrent.ExecutionException) {
        throw e.cause!!
    }
}

/**
 * Every bound ACL function against Strata's emulator (native-bindings/emulator, built by the Maven build),
 * including the error paths: codes become [AclException]s with the code's name and the runtime's message.
 */
class AclBindingSpec : FunSpec({
    val needsEmulator: (io.kotest.core.test.TestCase) -> Enabled = {
        if (emulatorBuilt) Enabled.enabled else Enabled.disabled("the ACL emulator is not built (gcc missing?): ${home ?: "strata.ascend.home unset"}")
    }

    test("the library is found under strata.ascend.home first, then ASCEND_HOME_PATH and LD_LIBRARY_PATH").config(enabledOrReasonIf = needsEmulator) {
        AclLibrary.candidates().first() shouldBe home!!.resolve("lib64").resolve(AclLibrary.ACL)
        AclLibrary.locate().get() shouldBe home.resolve("lib64").resolve(AclLibrary.ACL)
    }

    test("init (a repeat is not an error), version, SoC name, device count").config(enabledOrReasonIf = needsEmulator) {
        Acl.init()
        Acl.init() // 100002, tolerated
        Acl.version() shouldBe "1.16.0"
        Acl.socName()!! shouldStartWith "EMU"
        Acl.deviceCount() shouldBe 8
    }

    test("a thread that never bound a device gets 107002 with the runtime's message").config(enabledOrReasonIf = needsEmulator) {
        Acl.init()
        val e = shouldThrow<AclException> { onNewThread { Acl.currentDevice() } }
        e.code() shouldBe Acl.ACL_ERROR_RT_CONTEXT_NULL
        e.codeName() shouldBe "ACL_ERROR_RT_CONTEXT_NULL"
        e.message!! shouldContain "aclrtGetDevice failed: 107002 ACL_ERROR_RT_CONTEXT_NULL"
        e.recentMessage()!! shouldContain "EE107002"
        shouldThrow<AclException> { onNewThread { Acl.setDevice(99) } }.code() shouldBe Acl.ACL_ERROR_RT_INVALID_DEVICEID
    }

    test("device memory: malloc, copy in, memset, copy out, free; a bad pointer is refused").config(enabledOrReasonIf = needsEmulator) {
        Acl.init()
        onNewThread {
            Acl.setDevice(1)
            Acl.currentDevice() shouldBe 1
            val (free0, total) = Acl.memInfo().let { it[0] to it[1] }
            val dev = Acl.malloc(4096)
            (Acl.memInfo()[0] < free0) shouldBe true
            total shouldBe (1L shl 30)
            Arena.ofConfined().use { a ->
                val host = a.allocate(4096).also { s -> for (i in 0 until 1024) s.setAtIndex(ValueLayout.JAVA_INT, i.toLong(), i) }
                Acl.copyToDevice(dev, host)
                check(acl_rt_h.aclrtMemset(MemorySegment.ofAddress(dev), 4096, 0x7f, 4) == 0)
                val back = a.allocate(4096)
                Acl.copyFromDevice(back, dev)
                back.getAtIndex(ValueLayout.JAVA_INT, 0) shouldBe 0x7f7f7f7f
                back.getAtIndex(ValueLayout.JAVA_INT, 1023) shouldBe 1023
                val bad = shouldThrow<AclException> { Acl.copyToDevice(dev + 4096 * 16, host) }
                bad.code() shouldBe Acl.ACL_ERROR_RT_PARAM_INVALID
            }
            Acl.free(dev)
            shouldThrow<AclException> { Acl.free(dev) }.code() shouldBe Acl.ACL_ERROR_RT_PARAM_INVALID
            Acl.resetDevice(1)
        }
    }

    test("a kernel binary: load, get the function, launch on a stream with device-memory arguments, synchronize").config(enabledOrReasonIf = needsEmulator) {
        Acl.init()
        onNewThread {
            Acl.setDevice(0)
            val stream = Acl.createStream()
            val bin = Acl.loadBinary(kernels)
            val add = Acl.function(bin, "add_i32")
            val n = 1000L
            val data = Acl.malloc(n * 4)
            val args = Acl.malloc(24)
            Arena.ofConfined().use { a ->
                Acl.copyToDevice(data, a.allocate(n * 4)) // zeros
                val packed = a.allocate(24)
                packed.set(ValueLayout.JAVA_LONG, 0, data)
                packed.set(ValueLayout.JAVA_LONG, 8, n)
                packed.set(ValueLayout.JAVA_INT, 16, 5)
                Acl.copyToDevice(args, packed)
                Acl.launch(add, 7, args, 24, stream, "add_i32")
                Acl.launch(add, 3, args, 24, stream, "add_i32") // FIFO: runs after the first
                Acl.synchronize(stream, 10_000)
                val back = a.allocate(n * 4)
                Acl.copyFromDevice(back, data)
                (0 until n).all { back.getAtIndex(ValueLayout.JAVA_INT, it) == 10 } shouldBe true
            }
            shouldThrow<AclException> { Acl.function(bin, "no_such_kernel") }.recentMessage()!! shouldContain "no_such_kernel"
            shouldThrow<AclException> { Acl.loadBinary("relative.so") }.code() shouldBe Acl.ACL_ERROR_INVALID_PARAM
            Acl.unloadBinary(bin)
            Acl.free(args)
            Acl.free(data)
            Acl.destroyStream(stream)
        }
    }

    test("injected faults become typed exceptions: sync timeout 507046, device OOM 207001, a kernel that fails at synchronize").config(enabledOrReasonIf = needsEmulator) {
        Acl.init()
        onNewThread {
            Acl.setDevice(2)
            val stream = Acl.createStream()
            // A slow kernel and a short timeout: the real 507046.
            val bin = Acl.loadBinary(kernels)
            val sleep = Acl.function(bin, "sleep_ms")
            val args = Acl.malloc(8)
            Arena.ofConfined().use { a -> Acl.copyToDevice(args, a.allocate(8).also { it.set(ValueLayout.JAVA_LONG, 0, 300L) }) }
            Acl.launch(sleep, 1, args, 8, stream, "sleep_ms")
            val timeout = shouldThrow<AclException> { Acl.synchronize(stream, 20) }
            timeout.code() shouldBe Acl.ACL_ERROR_RT_STREAM_SYNC_TIMEOUT
            timeout.codeName() shouldBe "ACL_ERROR_RT_STREAM_SYNC_TIMEOUT"
            Acl.synchronize(stream, -1)
            // Device out of memory, as the runtime says it.
            injectFault("aclrtMalloc", Acl.ACL_ERROR_RT_MEMORY_ALLOCATION)
            val oom = shouldThrow<AclException> { Acl.malloc(64) }
            oom.code() shouldBe 207001
            oom.message!! shouldContain "out of device memory"
            val p = Acl.malloc(64) // the fault was for one call only
            Acl.free(p)
            // A launch failure surfaces at synchronize, naming the kernel; the stream stays poisoned.
            injectFault("sleep_ms", Acl.ACL_ERROR_RT_AICORE_EXCEPTION)
            Acl.launch(sleep, 1, args, 8, stream, "sleep_ms")
            val launch = shouldThrow<AclException> { Acl.synchronize(stream, 10_000) }
            launch.code() shouldBe Acl.ACL_ERROR_RT_AICORE_EXCEPTION
            launch.recentMessage()!! shouldContain "kernel 'sleep_ms'"
            Acl.destroyStream(stream)
            Acl.unloadBinary(bin)
            Acl.free(args)
        }
    }

    test("the emulator's limits: a real OOM when the device memory is used up").config(enabledOrReasonIf = needsEmulator) {
        Acl.init()
        onNewThread {
            Acl.setDevice(3)
            val e = shouldThrow<AclException> { Acl.malloc(2L shl 30) } // more than the 1 GiB of an emulated device
            e.code() shouldBe Acl.ACL_ERROR_RT_MEMORY_ALLOCATION
            e.recentMessage()!! shouldContain "out of memory"
            e.recentMessage() shouldNotBe null
        }
    }

    test("AclProbe (strata doctor): a working runtime reports devices, SoC and version; another library names the missing symbol").config(enabledOrReasonIf = needsEmulator) {
        val ok = AclProbe.of(home!!.resolve("lib64/libascendcl.so"))
        ok.ok() shouldBe true
        ok.deviceCount() shouldBe 8
        ok.socName() shouldStartWith "EMU"
        ok.version() shouldBe "1.16.0"
        val other = AclProbe.of(Path.of(kernels)) // loads, but is not the ACL runtime
        other.ok() shouldBe false
        other.problem() shouldContain "no symbol aclInit"
        AclProbe.of(Path.of("/nonexistent/libascendcl.so")).problem() shouldContain "cannot be loaded"
    }
})
