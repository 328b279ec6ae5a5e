package dev.strata.chip

import dev.strata.task.TaskCallable
import dev.strata.task.TaskContext
import java.lang.foreign.MemorySegment
import kotlin.time.Duration

/**
 * The SPI a chip worker drives (DESIGN.md §9): one instance per chip, created by a [ChipDriverFactory]
 * and called from one thread at a time (the chip's own). Implementations: `sim` ([SimChipDriver], pure
 * JVM, the default); Ascend ACL/HCCL later, through `native-bindings`.
 *
 * Device pointers are opaque 64-bit values: only the driver that returned one knows what it means.
 * Every method may throw; the chip worker wraps failures into a [dev.strata.error.ChipException] that
 * names the chip and the operation.
 */
public interface ChipDriver : AutoCloseable {
    /** Opens device [deviceId] with [config]; may be slow (the start-up barrier waits for every chip). */
    public fun open(deviceId: Int, config: ChipConfig)

    /** Allocates [bytes] of device memory; returns its device pointer. */
    public fun malloc(bytes: Long): Long

    /** Frees memory returned by [malloc]. */
    public fun free(pointer: Long)

    /** Copies [source] (host memory) to the device at [pointer]. */
    public fun copyToDevice(pointer: Long, source: MemorySegment)

    /** Copies device memory at [pointer] into [destination] (host memory), `destination.byteSize()` bytes. */
    public fun copyFromDevice(destination: MemorySegment, pointer: Long)

    /**
     * Device memory at [pointer] as code running on this chip sees it (kernels read and write it through
     * tensors). Throws if [pointer] .. `pointer + bytes` is not memory of this device.
     */
    public fun deviceView(pointer: Long, bytes: Long): MemorySegment

    /**
     * Starts [callable] on the device with [context] (its arguments already resolved to device views)
     * and returns without waiting; [synchronize] waits for it. One launch is in flight at a time.
     */
    public fun launch(callable: TaskCallable, context: TaskContext)

    /**
     * Waits at most [timeout] for the launched work. Throws what the work threw, or
     * [java.util.concurrent.TimeoutException] if it did not finish in time.
     */
    public fun synchronize(timeout: Duration)

    /**
     * Brings up this chip's communicator and window in a domain described by [spec], as [rank]: the
     * members meet at [rendezvous] (sim: the domain's shared-memory file). The window is zeroed before
     * any peer can see it: this returns after every member did so, or throws after [timeout].
     */
    public fun commInit(spec: CommDomainSpec, rank: Int, rendezvous: String, timeout: Duration): DeviceDomain

    /** Destroys the device context: frees device memory, leaves domains. Never throws. */
    override fun close()
}

/** A chip's membership in a communication domain, as its driver brought it up. */
public interface DeviceDomain : AutoCloseable {
    /** The domain's name. */
    public val name: String

    /** This chip's rank. */
    public val rank: Int

    /** Number of members. */
    public val ranks: Int

    /** Device pointer of this chip's window. */
    public val windowBase: Long

    /** Bytes of each window (at least what was asked). */
    public val windowSize: Long

    /** Device pointer of the device-side communicator context (what kernels get on real hardware). */
    public val deviceContext: Long

    /** Rank [peer]'s window as code on this chip sees it (the remote view). */
    public fun window(peer: Int): MemorySegment

    /** Waits until every member reached the barrier, at most [timeout]; throws on timeout or a broken domain. */
    public fun barrier(timeout: Duration)

    /** Leaves the domain. Never throws. */
    override fun close()
}

/** Creates [ChipDriver]s; name one in [ChipConfig.driver] by its class name. */
public fun interface ChipDriverFactory {
    /** A new, unopened driver. */
    public fun create(): ChipDriver
}
