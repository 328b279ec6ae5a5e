package dev.strata.chip

import dev.strata.task.ReduceOp
import dev.strata.tensor.DType
import java.lang.foreign.MemorySegment
import kotlin.time.Duration

/**
 * The SPI a chip worker drives (DESIGN.md §9, issue 14 §2), shaped after what devices do: one instance per
 * chip, created by a [ChipDriverFactory]. Implementations: `sim` ([dev.strata.chip.sim.SimChipDriver],
 * pure JVM, the default) and `acl` ([dev.strata.chip.acl.AclChipDriver], Ascend ACL/HCCL through
 * `native-bindings`). One contract suite (`ChipDriverContract` in the tests) runs against both.
 *
 * - **Memory is opaque.** A device pointer is a 64-bit value only the driver that returned it understands;
 *   the host reaches device memory through [copyToDevice] and [copyFromDevice] only. A view of device
 *   memory is an offset into an allocation.
 * - **Kernels are binaries.** [loadBinary] loads a module (ACL: a kernel binary file; sim: the class name
 *   of a [dev.strata.chip.sim.SimKernelBinary]), [function] finds a kernel in it, [launchKernel] queues it
 *   on a stream with a packed argument block and a block count and returns at once; [synchronize] waits,
 *   bounded. An asynchronous failure of a launch surfaces at [synchronize], naming the kernel.
 * - **Communicators** are driver operations: [commRootInfo] runs on the domain's root rank (rank 0), the
 *   host hands its bytes to every member's [commInit]; a [DeviceDomain] has a window, a barrier and
 *   [DeviceDomain.allReduce].
 *
 * Calls may come from several threads (the chip's control thread for memory, its program thread for
 * launches); a driver binds the device to each calling thread itself. Every method may throw; the chip
 * runtime wraps failures into a [dev.strata.error.ChipException] that names the chip and the operation.
 */
public interface ChipDriver : AutoCloseable {
    /** The driver's name in messages and in `ctx.chip.driver` (`sim`, `acl`). */
    public val name: String

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

    /** Loads kernel module [binary] (see the class comment for what names one); returns its handle. */
    public fun loadBinary(binary: String): Long

    /** The kernel [kernel] of module [binary] (a handle from [loadBinary]); throws naming the module if there is none. */
    public fun function(binary: Long, kernel: String): Long

    /** Unloads a module; its functions are invalid afterwards. */
    public fun unloadBinary(binary: Long)

    /** A new stream: launches on it run in order. */
    public fun createStream(): Long

    /** Waits for nothing and destroys [stream]. */
    public fun destroyStream(stream: Long)

    /**
     * Queues kernel [function] (called [kernel] in errors) on [stream] with [blocks] blocks and the packed
     * argument block [args] (host memory; the driver copies it to the device), and returns without waiting.
     */
    public fun launchKernel(function: Long, kernel: String, blocks: Int, args: MemorySegment, stream: Long)

    /**
     * Waits at most [timeout] for everything queued on [stream]. Throws the first failure of the work
     * (naming the kernel), or [java.util.concurrent.TimeoutException] if it did not finish in time.
     */
    public fun synchronize(stream: Long, timeout: Duration)

    /**
     * Root info for a new communicator of [spec], created on its root rank (rank 0): opaque bytes the host
     * hands to every member's [commInit].
     */
    public fun commRootInfo(spec: CommDomainSpec): ByteArray

    /**
     * Brings up this chip's communicator and window in domain [spec] as [rank], from the root's
     * [rootInfo]. The window is zeroed before any peer can see it: this returns after every member did
     * so, or throws after [timeout].
     */
    public fun commInit(spec: CommDomainSpec, rank: Int, rootInfo: ByteArray, timeout: Duration): DeviceDomain

    /** Destroys the device context: unloads modules, frees device memory, leaves domains. Never throws. */
    override fun close()
}

/**
 * A driver whose device memory the chip's own JVM code can address (the simulator): what lets Kotlin
 * kernels on the chip's cores and remote views of peers' windows work. Real devices do not offer it.
 */
public interface HostAddressable {
    /** Device memory at [pointer] as code on this chip sees it; throws if it is not memory of this device. */
    public fun deviceView(pointer: Long, bytes: Long): MemorySegment
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

    /** Device pointer of the device-side communicator context (what kernels get on real hardware); 0 if none. */
    public val deviceContext: Long

    /** Whether [window] can give peers' windows (remote views); false on real devices. */
    public val remoteViews: Boolean

    /** Rank [peer]'s window as code on this chip sees it (the remote view); throws where [remoteViews] is false. */
    public fun window(peer: Int): MemorySegment

    /** Waits until every member reached the barrier, at most [timeout]; throws on timeout or a broken domain. */
    public fun barrier(timeout: Duration)

    /**
     * Queues an all-reduce of [count] elements of [dtype] from device memory [send] into [recv] (both of
     * this chip; they may be the same) on [stream]: every member ends with the [op] of all members' data.
     * Completes at the stream's synchronize; a member that never joins fails it after the domain's timeout.
     */
    public fun allReduce(send: Long, recv: Long, count: Long, dtype: DType, op: ReduceOp, stream: Long)

    /** Leaves the domain. Never throws. */
    override fun close()
}

/** Creates [ChipDriver]s; name one in [ChipConfig.driver] by its class name. */
public fun interface ChipDriverFactory {
    /** A new, unopened driver. */
    public fun create(): ChipDriver
}
