package dev.strata.chip.sim

import dev.strata.chip.ChipConfig
import dev.strata.chip.ChipDriver
import dev.strata.chip.CommDomainSpec
import dev.strata.chip.DeviceDomain
import dev.strata.chip.HostAddressable
import dev.strata.task.ReduceOp
import dev.strata.tensor.DType
import java.lang.foreign.Arena
import java.lang.foreign.MemorySegment
import java.lang.foreign.ValueLayout
import java.nio.file.Paths
import java.util.TreeMap
import java.util.concurrent.ExecutorService
import java.util.concurrent.Executors
import java.util.concurrent.Future
import java.util.concurrent.TimeUnit
import java.util.concurrent.TimeoutException
import kotlin.time.Duration

/**
 * The simulated chip (DESIGN.md §9), pure JVM, on the device-shaped SPI. Device memory is the chip's own:
 * allocations from a private arena of the process the chip lives in, reached by device pointers only this
 * driver can turn into memory ([deviceView]; the host copies). "Binaries" are Kotlin: [loadBinary] takes
 * the class name of a [SimKernelBinary]. A stream is a worker thread running launches in order, one block
 * after another; the first failure on a stream is kept and thrown by [synchronize], naming the kernel.
 * Communication domains are [SimCommDomain] files created by the root rank ([commRootInfo]: the files'
 * paths are the root info); a member's window is device memory of its chip at [DeviceDomain.windowBase];
 * [DeviceDomain.allReduce] runs on the stream through a per-rank staging window of a second file.
 */
public class SimChipDriver : ChipDriver, HostAddressable {
    private class Region(val base: Long, val size: Long, val segment: MemorySegment, val arena: Arena?)

    override val name: String get() = ChipConfig.SIM

    private val regions = TreeMap<Long, Region>()
    private var nextPointer = FIRST_POINTER
    private var capacity = 0L
    private var used = 0L
    private var deviceId = -1
    private var commTimeout: Duration = Duration.ZERO
    private var nextHandle = 1L
    private val binaries = HashMap<Long, Pair<String, SimKernelBinary>>()
    private val functions = HashMap<Long, SimKernel>()
    private val streams = HashMap<Long, SimStream>()
    private val domains = ArrayList<SimDeviceDomain>()

    /** Domain files this chip created as a root, by data-file path, until the root's own [commInit] adopts them. */
    private val created = HashMap<String, Pair<SimCommDomain, SimCommDomain>>()

    override fun open(deviceId: Int, config: ChipConfig) {
        this.deviceId = deviceId
        capacity = config.deviceMemoryBytes
        commTimeout = config.commTimeout
        if (config.simInitDelay.isPositive()) Thread.sleep(config.simInitDelay.inWholeMilliseconds)
    }

    @Synchronized
    override fun malloc(bytes: Long): Long {
        require(bytes > 0) { "malloc of $bytes B; sizes must be > 0" }
        if (used + bytes > capacity) {
            throw OutOfMemoryError(
                "sim device $deviceId has ${capacity - used} B of device memory free, $bytes B asked " +
                    "(raise ChipConfig.deviceMemoryBytes, now $capacity)",
            )
        }
        val arena = Arena.ofShared()
        val seg = arena.allocate(bytes, 64)
        return place(bytes, seg, arena).also { used += bytes }
    }

    /** Gives [segment] a device address range of its own (guard pages between ranges). */
    private fun place(bytes: Long, segment: MemorySegment, arena: Arena?): Long {
        val base = nextPointer
        nextPointer += (bytes + GUARD + PAGE - 1) / PAGE * PAGE
        regions[base] = Region(base, bytes, segment, arena)
        return base
    }

    @Synchronized
    override fun free(pointer: Long) {
        val r = regions[pointer] ?: throw IllegalArgumentException("0x${pointer.toString(16)} is not an allocation of sim device $deviceId")
        require(r.arena != null) { "0x${pointer.toString(16)} is a communication window; it is freed with its domain" }
        regions.remove(pointer)
        used -= r.size
        r.arena.close()
    }

    override fun copyToDevice(pointer: Long, source: MemorySegment) {
        MemorySegment.copy(source, 0, deviceView(pointer, source.byteSize()), 0, source.byteSize())
    }

    override fun copyFromDevice(destination: MemorySegment, pointer: Long) {
        MemorySegment.copy(deviceView(pointer, destination.byteSize()), 0, destination, 0, destination.byteSize())
    }

    @Synchronized
    override fun deviceView(pointer: Long, bytes: Long): MemorySegment {
        val r = regions.floorEntry(pointer)?.value
        if (r == null || bytes < 0 || pointer + bytes > r.base + r.size) {
            throw IllegalArgumentException(
                "[0x${pointer.toString(16)}, +$bytes B) is not device memory of sim device $deviceId (freed, or never allocated here)",
            )
        }
        return r.segment.asSlice(pointer - r.base, bytes)
    }

    @Synchronized
    override fun loadBinary(binary: String): Long {
        val loader = Thread.currentThread().contextClassLoader ?: SimChipDriver::class.java.classLoader
        val type = try {
            Class.forName(binary, true, loader)
        } catch (e: ClassNotFoundException) {
            throw IllegalArgumentException("sim kernel binary '$binary' is not a class on the classpath (sim binaries are SimKernelBinary class names)", e)
        }
        val module = instanceOf(type) as? SimKernelBinary
            ?: throw IllegalArgumentException("sim kernel binary '$binary' is not a SimKernelBinary")
        return nextHandle++.also { binaries[it] = binary to module }
    }

    @Synchronized
    override fun function(binary: Long, kernel: String): Long {
        val (name, module) = binaries[binary] ?: throw IllegalArgumentException("binary handle $binary is not loaded on sim device $deviceId")
        val k = module.kernels[kernel] ?: throw IllegalArgumentException(
            "sim kernel binary '$name' has no kernel '$kernel'; it has ${module.kernels.keys.sorted()}",
        )
        return nextHandle++.also { functions[it] = k }
    }

    @Synchronized
    override fun unloadBinary(binary: Long) {
        binaries.remove(binary) ?: throw IllegalArgumentException("binary handle $binary is not loaded on sim device $deviceId")
    }

    @Synchronized
    override fun createStream(): Long {
        val id = nextHandle++
        streams[id] = SimStream("strata-sim-chip$deviceId-stream$id")
        return id
    }

    override fun destroyStream(stream: Long) {
        val s = synchronized(this) { streams.remove(stream) } ?: throw IllegalArgumentException("stream $stream is not a stream of sim device $deviceId")
        s.close()
    }

    private fun stream(stream: Long): SimStream =
        synchronized(this) { streams[stream] } ?: throw IllegalArgumentException("stream $stream is not a stream of sim device $deviceId")

    override fun launchKernel(function: Long, kernel: String, blocks: Int, args: MemorySegment, stream: Long) {
        require(blocks > 0) { "launch of '$kernel' with $blocks blocks; at least 1" }
        val k = synchronized(this) { functions[function] } ?: throw IllegalArgumentException("function handle $function ('$kernel') is not loaded on sim device $deviceId")
        val packed = Arena.ofAuto().allocate(maxOf(args.byteSize(), 8), 8).also { MemorySegment.copy(args, 0, it, 0, args.byteSize()) }
        stream(stream).submit("kernel '$kernel'") {
            for (b in 0 until blocks) k.run(packed, b, blocks, this)
        }
    }

    override fun synchronize(stream: Long, timeout: Duration): Unit = stream(stream).synchronize(timeout)

    override fun commRootInfo(spec: CommDomainSpec): ByteArray {
        val ranks = spec.chips.size
        val data = SimCommDomain.create(spec.name, ranks, spec.windowBytes)
        val staging = try {
            SimCommDomain.create("${spec.name} (collectives)", ranks, STAGING_BYTES)
        } catch (t: Throwable) {
            data.close()
            throw t
        }
        synchronized(this) { created[data.path.toString()] = data to staging }
        return "${data.path}\n${staging.path}".toByteArray()
    }

    override fun commInit(spec: CommDomainSpec, rank: Int, rootInfo: ByteArray, timeout: Duration): DeviceDomain {
        val paths = SimCommDomain.filesOf(rootInfo).map { it.toString() }
        require(paths.size == 2) { "root info of domain '${spec.name}' is not a sim domain's (${rootInfo.size} B)" }
        // The root (rank 0) adopts the files it created; they go with its membership.
        val mine = if (rank == 0) synchronized(this) { created.remove(paths[0]) } else null
        val comm = mine?.first ?: SimCommDomain.open(spec.name, Paths.get(paths[0]), rank)
        val staging = try {
            mine?.second ?: SimCommDomain.open("${spec.name} (collectives)", Paths.get(paths[1]), rank)
        } catch (t: Throwable) {
            comm.close()
            throw t
        }
        try {
            comm.zeroOwnWindow()
            val base = synchronized(this) { place(comm.windowBytes, comm.window(rank), null) }
            // The device-side context kernels of a real chip get: rank, ranks, window size, own window.
            val ctx = malloc(32L + 8L * comm.ranks)
            val view = deviceView(ctx, 32L + 8L * comm.ranks)
            view.set(ValueLayout.JAVA_INT, 0, rank)
            view.set(ValueLayout.JAVA_INT, 4, comm.ranks)
            view.set(ValueLayout.JAVA_LONG, 8, comm.windowBytes)
            view.set(ValueLayout.JAVA_LONG, 16, base)
            val dd = SimDeviceDomain(comm, staging, base, ctx)
            synchronized(this) { domains += dd }
            try {
                comm.barrier(timeout.inWholeNanoseconds) // every window is zero before anyone uses one
            } catch (t: Throwable) {
                dd.close()
                throw t
            }
            return dd
        } catch (t: Throwable) {
            runCatching { comm.close() }
            runCatching { staging.close() }
            throw t
        }
    }

    private inner class SimDeviceDomain(
        val comm: SimCommDomain,
        val staging: SimCommDomain,
        override val windowBase: Long,
        override val deviceContext: Long,
    ) : DeviceDomain {
        private var closed = false
        override val name: String get() = comm.name
        override val rank: Int get() = comm.rank
        override val ranks: Int get() = comm.ranks
        override val windowSize: Long get() = comm.windowBytes
        override val remoteViews: Boolean get() = true
        override fun window(peer: Int): MemorySegment = comm.window(peer)
        override fun barrier(timeout: Duration) = comm.barrier(timeout.inWholeNanoseconds)

        override fun allReduce(send: Long, recv: Long, count: Long, dtype: DType, op: ReduceOp, stream: Long) {
            require(count > 0) { "allReduce of $count elements; at least 1" }
            val bytes = count * dtype.byteSize
            val src = deviceView(send, bytes)
            val dst = deviceView(recv, bytes)
            val reduce = SimReduce.of(dtype, op)
            stream(stream).submit("allReduce of $count ${dtype.name} (${op.name}) in domain '$name'") {
                val chunk = staging.windowBytes / dtype.byteSize * dtype.byteSize
                val peers = Array(ranks) { staging.window(it) }
                val t = commTimeout.inWholeNanoseconds
                var at = 0L
                while (at < bytes) {
                    val n = minOf(chunk, bytes - at)
                    MemorySegment.copy(src, at, peers[rank], 0, n)
                    staging.barrier(t) // every rank staged this chunk
                    reduce.apply(peers, dst.asSlice(at, n), n)
                    staging.barrier(t) // every rank read every stage before the next chunk overwrites it
                    at += n
                }
            }
        }

        override fun close() {
            synchronized(this@SimChipDriver) {
                if (closed) return
                closed = true
                regions.remove(windowBase)
                domains.remove(this)
                runCatching { free(deviceContext) }
            }
            runCatching { comm.close() }
            runCatching { staging.close() }
        }
    }

    override fun close() {
        val s = synchronized(this) { streams.values.toList().also { streams.clear() } }
        s.forEach { it.close() }
        synchronized(this) {
            domains.toList().forEach { runCatching { it.close() } }
            domains.clear()
            created.values.forEach { (a, b) -> runCatching { a.close() }; runCatching { b.close() } }
            created.clear()
            for (r in regions.values) r.arena?.let { runCatching { it.close() } }
            regions.clear()
            binaries.clear()
            functions.clear()
            used = 0
        }
    }

    /** One stream: a thread running its work in order; the first failure is kept until [synchronize] throws it. */
    private class SimStream(threadName: String) : AutoCloseable {
        private val executor: ExecutorService = Executors.newSingleThreadExecutor { r -> Thread(r, threadName).apply { isDaemon = true } }

        @Volatile
        private var failure: Throwable? = null
        private var last: Future<*>? = null

        @Synchronized
        fun submit(what: String, work: () -> Unit) {
            last = executor.submit {
                if (failure != null) return@submit // a failed stream runs nothing more until synchronize reports it
                try {
                    work()
                } catch (t: Throwable) {
                    failure = IllegalStateException("$what failed: ${t.message ?: t.javaClass.name}", t)
                }
            }
        }

        fun synchronize(timeout: Duration) {
            val f = synchronized(this) { last } ?: return
            try {
                f.get(timeout.inWholeNanoseconds, TimeUnit.NANOSECONDS)
            } catch (e: TimeoutException) {
                throw TimeoutException("the stream's work did not finish within $timeout")
            }
            failure?.let {
                failure = null
                throw it
            }
        }

        override fun close() {
            executor.shutdownNow()
        }
    }

    private companion object {
        /** A Kotlin `object`'s instance, else a new instance through the no-arg constructor. */
        fun instanceOf(type: Class<*>): Any =
            runCatching { type.getDeclaredField("INSTANCE").also { it.isAccessible = true }.get(null) }.getOrNull()
                ?: type.getDeclaredConstructor().also { it.isAccessible = true }.newInstance()

        const val FIRST_POINTER = 0x10_0000_0000L
        const val PAGE = 4096L
        const val GUARD = 4096L

        /** Each rank's staging window for collectives: chunks of this size go through it. */
        const val STAGING_BYTES = 256L * 1024
    }
}
