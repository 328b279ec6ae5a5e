package dev.strata.chip.sim

import dev.strata.chip.ChipConfig
import dev.strata.chip.ChipDriver
import dev.strata.chip.CommDomainSpec
import dev.strata.chip.DeviceDomain
import dev.strata.task.TaskCallable
import dev.strata.task.TaskContext
import java.lang.foreign.Arena
import java.lang.foreign.MemorySegment
import java.lang.foreign.ValueLayout
import java.nio.file.Paths
import java.util.TreeMap
import java.util.concurrent.ExecutionException
import java.util.concurrent.ExecutorService
import java.util.concurrent.Executors
import java.util.concurrent.Future
import java.util.concurrent.TimeUnit
import java.util.concurrent.TimeoutException
import kotlin.time.Duration

/**
 * The simulated chip (DESIGN.md §9), pure JVM. Device memory is the chip's own: allocations from a
 * private arena of the process the chip lives in, reached by device pointers that only this driver can
 * turn into memory — the host gets at it through [copyToDevice] / [copyFromDevice] only. A launch runs on
 * the chip's stream thread, so [synchronize] can give up after its timeout. Communication domains are
 * [SimCommDomain] files; a member's window is device memory of its chip at [DeviceDomain.windowBase].
 */
public class SimChipDriver : ChipDriver {
    private class Region(val base: Long, val size: Long, val segment: MemorySegment, val arena: Arena?)

    private val regions = TreeMap<Long, Region>()
    private var nextPointer = FIRST_POINTER
    private var capacity = 0L
    private var used = 0L
    private var stream: ExecutorService? = null
    private var launched: Future<*>? = null
    private val domains = ArrayList<SimDeviceDomain>()
    private var deviceId = -1

    override fun open(deviceId: Int, config: ChipConfig) {
        this.deviceId = deviceId
        capacity = config.deviceMemoryBytes
        if (config.simInitDelay.isPositive()) Thread.sleep(config.simInitDelay.inWholeMilliseconds)
        stream = Executors.newSingleThreadExecutor { r ->
            Thread(r, "strata-sim-chip$deviceId-stream").apply { isDaemon = true }
        }
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
        if (r == null || pointer + bytes > r.base + r.size || bytes < 0) {
            throw IllegalArgumentException(
                "[0x${pointer.toString(16)}, +$bytes B) is not device memory of sim device $deviceId (freed, or never allocated here)",
            )
        }
        return r.segment.asSlice(pointer - r.base, bytes)
    }

    override fun launch(callable: TaskCallable, context: TaskContext) {
        val s = stream ?: throw IllegalStateException("sim device $deviceId is not open")
        check(launched?.isDone != false) { "sim device $deviceId: a launch is still in flight; synchronize first" }
        launched = s.submit { callable.call(context) }
    }

    override fun synchronize(timeout: Duration) {
        val f = launched ?: return
        try {
            f.get(timeout.inWholeNanoseconds, TimeUnit.NANOSECONDS)
        } catch (e: ExecutionException) {
            throw e.cause ?: e
        } catch (e: TimeoutException) {
            throw TimeoutException("the launched work did not finish within $timeout")
        } finally {
            if (f.isDone) launched = null
        }
    }

    override fun commInit(spec: CommDomainSpec, rank: Int, rendezvous: String, timeout: Duration): DeviceDomain {
        val comm = SimCommDomain.open(spec.name, Paths.get(rendezvous), rank)
        try {
            comm.zeroOwnWindow()
            val base = synchronized(this) { place(comm.windowBytes, comm.window(rank), null) }
            // The device-side context kernels of a real chip get: rank, ranks, window size, every rank's window.
            val ctx = malloc(32L + 8L * comm.ranks)
            val view = deviceView(ctx, 32L + 8L * comm.ranks)
            view.set(ValueLayout.JAVA_INT, 0, rank)
            view.set(ValueLayout.JAVA_INT, 4, comm.ranks)
            view.set(ValueLayout.JAVA_LONG, 8, comm.windowBytes)
            view.set(ValueLayout.JAVA_LONG, 16, base)
            comm.barrier(timeout.inWholeNanoseconds) // every window is zero before anyone uses one
            return SimDeviceDomain(comm, base, ctx).also { synchronized(this) { domains += it } }
        } catch (t: Throwable) {
            comm.close()
            throw t
        }
    }

    private inner class SimDeviceDomain(val comm: SimCommDomain, override val windowBase: Long, override val deviceContext: Long) : DeviceDomain {
        override val name: String get() = comm.name
        override val rank: Int get() = comm.rank
        override val ranks: Int get() = comm.ranks
        override val windowSize: Long get() = comm.windowBytes
        override fun window(peer: Int): MemorySegment = comm.window(peer)
        override fun barrier(timeout: Duration) = comm.barrier(timeout.inWholeNanoseconds)
        override fun close() {
            synchronized(this@SimChipDriver) { regions.remove(windowBase) }
            comm.close()
        }
    }

    override fun close() {
        stream?.shutdownNow()
        stream = null
        synchronized(this) {
            domains.forEach { runCatching { it.close() } }
            domains.clear()
            for (r in regions.values) r.arena?.let { runCatching { it.close() } }
            regions.clear()
            used = 0
        }
    }

    private companion object {
        const val FIRST_POINTER = 0x10_0000_0000L
        const val PAGE = 4096L
        const val GUARD = 4096L
    }
}
