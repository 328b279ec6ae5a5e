package dev.strata.chip.acl

import dev.strata.chip.ChipConfig
import dev.strata.chip.ChipDriver
import dev.strata.chip.CommDomainSpec
import dev.strata.chip.DeviceDomain
import dev.strata.error.CommunicationException
import dev.strata.nativebind.acl.Acl
import dev.strata.nativebind.acl.AclException
import dev.strata.nativebind.acl.AclLibrary
import dev.strata.nativebind.acl.acl_rt_h
import dev.strata.nativebind.hccl.Hccl
import dev.strata.nativebind.hccl.hccl_h
import dev.strata.task.ReduceOp
import dev.strata.tensor.DType
import java.lang.foreign.MemorySegment
import java.util.concurrent.CompletableFuture
import java.util.concurrent.ExecutionException
import java.util.concurrent.TimeUnit
import java.util.concurrent.TimeoutException
import io.github.oshai.kotlinlogging.KotlinLogging
import kotlin.time.Duration

private val log = KotlinLogging.logger {}

/**
 * The Ascend chip driver (issue 14 §3): ACL for the device, HCCL for communicators, both through the
 * hand-written FFM bindings of `native-bindings` (nothing native loads until a driver opens). Runs
 * unchanged on real CANN and on the repository's ABI-compatible emulator (docs/hardware.md).
 *
 * - `aclInit` once per process (a repeat is success); `aclrtSetDevice` on every thread that calls in (the
 *   device is per thread in ACL), `aclrtResetDevice` at [close].
 * - Memory is `aclrtMalloc`'d device memory, copied with `aclrtMemcpy`; nothing of it is host-addressable.
 * - A launch copies its packed arguments to device memory (`aclrtLaunchKernel` reads them there), queues
 *   the kernel and returns; the argument blocks are freed at the stream's next [synchronize]. A
 *   synchronize that times out (507046) becomes a [TimeoutException]; any other failure names the kernels
 *   launched since the last synchronize.
 * - A domain is an HCCL communicator from the root's `HcclGetRootInfo`, brought up with
 *   `HcclCommInitRootInfo` on a helper thread (so [commInit] is bounded by its timeout even where HCCL
 *   waits longer), a zeroed window of its own, `HcclBarrier` (synchronous on hardware, so it runs on a
 *   thread of the domain's and is waited for under the timeout) and `HcclAllReduce` queued on the
 *   caller's stream. There are no remote views of peers' windows.
 */
public class AclChipDriver : ChipDriver {
    override val name: String get() = ChipConfig.ACL

    private var deviceId = -1
    private val allocations = HashSet<Long>()
    private val binaries = HashMap<Long, MemorySegment>()
    private val functions = HashMap<Long, MemorySegment>()
    private val streams = HashMap<Long, StreamState>()
    private val domains = ArrayList<AclDomain>()

    /** What a stream has queued since its last synchronize: the argument blocks to free, the kernels to name. */
    private class StreamState(val handle: MemorySegment) {
        val argBlocks = ArrayList<Long>()
        val kernels = ArrayList<String>()
    }

    /** Binds the device to the calling thread (ACL keeps one current device per thread, whichever driver set it). */
    private fun bind() {
        check(deviceId >= 0) { "the acl driver is not open" }
        bindThread(deviceId)
    }

    override fun open(deviceId: Int, config: ChipConfig) {
        requireLibrary(AclLibrary.ACL, "the ACL runtime")
        initOnce()
        val count = Acl.deviceCount()
        require(deviceId in 0 until count) {
            "device $deviceId does not exist: ACL sees $count device(s) (check ASCEND_RT_VISIBLE_DEVICES and ChipConfig.deviceId)"
        }
        this.deviceId = deviceId
        bind()
    }

    @Synchronized
    override fun malloc(bytes: Long): Long {
        require(bytes > 0) { "malloc of $bytes B; sizes must be > 0" }
        bind()
        return Acl.malloc(bytes).also { allocations += it }
    }

    @Synchronized
    override fun free(pointer: Long) {
        require(pointer in allocations) { "0x${pointer.toString(16)} is not an allocation of acl device $deviceId (freed, a window, or never allocated here)" }
        bind()
        Acl.free(pointer)
        allocations -= pointer
    }

    override fun copyToDevice(pointer: Long, source: MemorySegment) {
        bind()
        Acl.copyToDevice(pointer, source)
    }

    override fun copyFromDevice(destination: MemorySegment, pointer: Long) {
        bind()
        Acl.copyFromDevice(destination, pointer)
    }

    @Synchronized
    override fun loadBinary(binary: String): Long {
        require(binary.startsWith("/")) { "kernel binary '$binary' must be an absolute path under the acl driver" }
        require(java.io.File(binary).isFile) { "kernel binary '$binary' does not exist (build the kernels first)" }
        bind()
        val h = Acl.loadBinary(binary)
        return h.address().also { binaries[it] = h }
    }

    @Synchronized
    override fun function(binary: Long, kernel: String): Long {
        val b = binaries[binary] ?: throw IllegalArgumentException("binary handle 0x${binary.toString(16)} is not loaded on acl device $deviceId")
        bind()
        val f = Acl.function(b, kernel)
        return f.address().also { functions[it] = f }
    }

    @Synchronized
    override fun unloadBinary(binary: Long) {
        val b = binaries.remove(binary) ?: throw IllegalArgumentException("binary handle 0x${binary.toString(16)} is not loaded on acl device $deviceId")
        bind()
        Acl.unloadBinary(b)
    }

    @Synchronized
    override fun createStream(): Long {
        bind()
        val s = Acl.createStream()
        return s.address().also { streams[it] = StreamState(s) }
    }

    override fun destroyStream(stream: Long) {
        val s = synchronized(this) { streams.remove(stream) } ?: throw IllegalArgumentException("stream 0x${stream.toString(16)} is not a stream of acl device $deviceId")
        bind()
        Acl.destroyStream(s.handle)
        synchronized(this) { s.argBlocks.forEach { runCatching { Acl.free(it) }; allocations -= it } }
    }

    private fun state(stream: Long): StreamState =
        synchronized(this) { streams[stream] } ?: throw IllegalArgumentException("stream 0x${stream.toString(16)} is not a stream of acl device $deviceId")

    override fun launchKernel(function: Long, kernel: String, blocks: Int, args: MemorySegment, stream: Long) {
        val f = synchronized(this) { functions[function] } ?: throw IllegalArgumentException("function handle 0x${function.toString(16)} ('$kernel') is not loaded on acl device $deviceId")
        val s = state(stream)
        bind()
        val block = malloc(maxOf(args.byteSize(), 8))
        try {
            Acl.copyToDevice(block, args)
            Acl.launch(f, blocks, block, args.byteSize(), s.handle, kernel)
        } catch (t: Throwable) {
            free(block)
            throw t
        }
        synchronized(this) {
            s.argBlocks += block
            s.kernels += kernel
        }
    }

    override fun synchronize(stream: Long, timeout: Duration) {
        val s = state(stream)
        bind()
        val millis = timeout.inWholeMilliseconds.coerceIn(1, Int.MAX_VALUE.toLong()).toInt()
        val queued = synchronized(this) { s.kernels.toList() }
        try {
            Acl.synchronize(s.handle, millis)
        } catch (e: AclException) {
            if (e.code() == Acl.ACL_ERROR_RT_STREAM_SYNC_TIMEOUT) {
                // The work may still run and read its argument blocks: they stay until close.
                throw TimeoutException("the stream's work${describe(queued)} did not finish within $timeout (${e.message})")
            }
            releaseArgs(s)
            throw IllegalStateException("device work${describe(queued)} failed: ${e.message}", e)
        }
        releaseArgs(s)
    }

    private fun describe(kernels: List<String>): String =
        if (kernels.isEmpty()) "" else " (kernel${if (kernels.size > 1) "s" else ""} ${kernels.distinct().joinToString { "'$it'" }})"

    private fun releaseArgs(s: StreamState) = synchronized(this) {
        for (b in s.argBlocks) {
            runCatching { Acl.free(b) }
            allocations -= b
        }
        s.argBlocks.clear()
        s.kernels.clear()
    }

    override fun commRootInfo(spec: CommDomainSpec): ByteArray {
        requireLibrary(HCCL, "HCCL, for communication domains")
        bind()
        return Hccl.rootInfo()
    }

    override fun commInit(spec: CommDomainSpec, rank: Int, rootInfo: ByteArray, timeout: Duration): DeviceDomain {
        requireLibrary(HCCL, "HCCL, for communication domains")
        bind()
        val ranks = spec.chips.size
        // HcclCommInitRootInfo waits for every rank up to HCCL's own connect timeout: bound it here.
        val init = CompletableFuture<MemorySegment>()
        Thread({
            try {
                bindThread(deviceId)
                init.complete(Hccl.initRank(ranks, rootInfo, rank))
            } catch (t: Throwable) {
                init.completeExceptionally(t)
            }
        }, "strata-acl-dev$deviceId-hccl-init-${spec.name}").apply { isDaemon = true }.start()
        val comm = try {
            init.get(timeout.inWholeMilliseconds, TimeUnit.MILLISECONDS)
        } catch (e: ExecutionException) {
            throw e.cause ?: e
        } catch (e: TimeoutException) {
            init.whenComplete { c, _ -> c?.let { runCatching { Hccl.destroy(it) } } } // when HCCL gives up or completes late
            throw TimeoutException("HcclCommInitRootInfo of domain '${spec.name}' as rank $rank of $ranks did not return within $timeout (a peer did not join)")
        }
        var window = 0L
        var stream: MemorySegment? = null
        try {
            val size = (spec.windowBytes + WINDOW_ALIGN - 1) / WINDOW_ALIGN * WINDOW_ALIGN
            window = malloc(size)
            Acl.check(acl_rt_h.aclrtMemset(MemorySegment.ofAddress(window), size, 0, size), "aclrtMemset(window of domain '${spec.name}', $size B)")
            stream = Acl.createStream()
            val d = AclDomain(spec.name, rank, ranks, comm, window, size, stream)
            d.barrier(timeout) // every window is zero before anyone uses one
            synchronized(this) { domains += d }
            return d
        } catch (t: Throwable) {
            stream?.let { runCatching { Acl.destroyStream(it) } }
            if (window != 0L) runCatching { free(window) }
            runCatching { Hccl.destroy(comm) }
            throw t
        }
    }

    private inner class AclDomain(
        override val name: String,
        override val rank: Int,
        override val ranks: Int,
        private val comm: MemorySegment,
        override val windowBase: Long,
        override val windowSize: Long,
        private val stream: MemorySegment,
    ) : DeviceDomain {
        private var closed = false
        override val deviceContext: Long get() = 0L
        override val remoteViews: Boolean get() = false

        override fun window(peer: Int): MemorySegment = throw UnsupportedOperationException(
            "domain '$name' on acl device $deviceId has no remote views of rank $peer's window; use allReduce",
        )

        /** Runs the barriers: `HcclBarrier` blocks its caller until every rank issued it (and may switch the thread's ACL context). */
        private val barrierThread = java.util.concurrent.Executors.newSingleThreadExecutor { r ->
            Thread(r, "strata-acl-dev$deviceId-barrier-$name").apply { isDaemon = true }
        }

        @Volatile
        private var broken: String? = null

        override fun barrier(timeout: Duration) {
            broken?.let { throw CommunicationException(name, rank, "the domain is broken: $it") }
            val f = barrierThread.submit {
                current.remove() // a barrier may leave another context current on its thread: bind again every time
                bindThread(deviceId)
                Hccl.barrier(comm, stream)
            }
            try {
                f.get(timeout.inWholeMilliseconds, TimeUnit.MILLISECONDS)
            } catch (e: TimeoutException) {
                broken = "a barrier timed out after $timeout"
                throw CommunicationException(
                    name, rank, "barrier timed out after $timeout: a peer is slow, hung or dead. The domain is now broken for this member",
                )
            } catch (e: ExecutionException) {
                val c = e.cause ?: e
                broken = "a barrier failed (${c.message})"
                throw CommunicationException(name, rank, "barrier failed: ${c.message}")
            }
        }

        override fun allReduce(send: Long, recv: Long, count: Long, dtype: DType, op: ReduceOp, stream: Long) {
            val s = state(stream)
            bind()
            Hccl.allReduce(send, recv, count, hcclType(dtype), op.code, comm, s.handle)
            synchronized(this@AclChipDriver) { s.kernels += "HcclAllReduce of domain '$name'" }
        }

        override fun close() {
            synchronized(this@AclChipDriver) {
                if (closed) return
                closed = true
                domains.remove(this)
            }
            barrierThread.shutdownNow()
            runCatching { bind() }
            runCatching { Hccl.destroy(comm) }.onFailure { log.warn(it) { "acl device $deviceId: leaving domain '$name' failed" } }
            runCatching { Acl.destroyStream(stream) }
            runCatching { free(windowBase) }
        }
    }

    override fun close() {
        if (deviceId < 0) return
        runCatching { bind() }
        synchronized(this) { domains.toList() }.forEach { runCatching { it.close() } }
        synchronized(this) {
            for (s in streams.values) runCatching { Acl.destroyStream(s.handle) }
            streams.clear()
            for (b in binaries.values) runCatching { Acl.unloadBinary(b) }
            binaries.clear()
            functions.clear()
            for (p in allocations) runCatching { Acl.free(p) }
            allocations.clear()
        }
        runCatching { Acl.resetDevice(deviceId) }
        resets.incrementAndGet() // every thread binds again before its next call
        deviceId = -1
    }

    public companion object {
        private const val WINDOW_ALIGN = 4096L
        private const val HCCL = "libhccl.so"

        /** Throws naming every place looked at when [file] cannot be loaded (before a binding fails with less to say). */
        private fun requireLibrary(file: String, what: String) {
            if (AclLibrary.loadOrNull(file) != null) return
            throw IllegalStateException(
                "cannot load $file ($what; tried ${AclLibrary.candidates(file)}, then the dynamic loader's search). Set ASCEND_HOME_PATH to a " +
                    "CANN install (source its set_env.sh) or -Dstrata.ascend.home; without either, ./strata uses the emulator (docs/hardware.md)",
            )
        }

        /**
         * The device ACL has current on each thread as far as Strata set it (every acl driver of the process
         * shares it), with the [resets] count it was set under: a device reset anywhere makes threads bind again.
         */
        private val current = ThreadLocal<Long?>()
        private val resets = java.util.concurrent.atomic.AtomicLong()

        private fun bindThread(device: Int) {
            val want = (resets.get() shl 20) or device.toLong()
            if (current.get() != want) {
                Acl.setDevice(device)
                current.set(want)
            }
        }
        private val initialized = java.util.concurrent.atomic.AtomicBoolean()

        /** `aclInit` once per process; ACL is finalized when the process ends. */
        private fun initOnce() {
            if (initialized.get()) return
            synchronized(initialized) {
                if (!initialized.get()) {
                    Acl.init()
                    initialized.set(true)
                }
            }
        }

        /** HCCL's data type for [dtype]; throws naming the types it has otherwise. */
        internal fun hcclType(dtype: DType): Int = when (dtype) {
            DType.I8 -> hccl_h.HCCL_DATA_TYPE_INT8
            DType.I16 -> hccl_h.HCCL_DATA_TYPE_INT16
            DType.I32 -> hccl_h.HCCL_DATA_TYPE_INT32
            DType.F16 -> hccl_h.HCCL_DATA_TYPE_FP16
            DType.F32 -> hccl_h.HCCL_DATA_TYPE_FP32
            DType.I64 -> hccl_h.HCCL_DATA_TYPE_INT64
            DType.U64 -> hccl_h.HCCL_DATA_TYPE_UINT64
            DType.U8 -> hccl_h.HCCL_DATA_TYPE_UINT8
            DType.F64 -> hccl_h.HCCL_DATA_TYPE_FP64
            DType.BF16 -> hccl_h.HCCL_DATA_TYPE_BFP16
            DType.U32 -> throw UnsupportedOperationException("the acl driver's collectives do not take U32 (Strata binds no HCCL UINT32); use I32 or U64")
        }
    }
}
