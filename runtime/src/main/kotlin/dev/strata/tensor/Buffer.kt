package dev.strata.tensor

import java.lang.foreign.Arena
import java.lang.foreign.MemorySegment
import java.util.concurrent.atomic.AtomicLong

/** Where a buffer's bytes live. */
public sealed interface AddressSpace {
    /** Host memory, addressable by every host worker of the process. */
    public data object Host : AddressSpace {
        override fun toString(): String = "HOST"
    }

    /** Memory of the next-level worker with index [worker] (a chip's device memory). */
    public data class Device(val worker: Int) : AddressSpace {
        override fun toString(): String = "DEVICE($worker)"
    }
}

/** What tasks may do with a buffer's bytes. */
public enum class Access(public val readable: Boolean, public val writable: Boolean) {
    READ_WRITE(true, true),
    READ_ONLY(true, false),
}

/**
 * Contiguous memory with an identity: [id] (unique in the process), [addressSpace] and [byteSize].
 * Tensors are views of buffers; dependency inference tracks bytes per buffer identity.
 *
 * Host buffers are backed by a [MemorySegment] that tasks read and write through [Tensor] accessors.
 * Thread-safe: the buffer's fields never change after creation, except [isReleased].
 */
public class Buffer internal constructor(
    public val byteSize: Long,
    public val addressSpace: AddressSpace,
    public val access: Access,
    /** A name for messages, e.g. `"weights"` or `"alloc#3"`. */
    public val label: String,
    internal val segment: MemorySegment?,
    /**
     * Set for host buffers that live in a shared-memory file: its path and where this buffer starts in
     * it. Child worker processes map the file by this name; private host memory they cannot see.
     */
    internal val sharedFile: String? = null,
    internal val sharedOffset: Long = 0,
    /** For device buffers: the device pointer of the first byte (the chip's driver knows what it means). */
    internal val deviceAddress: Long = 0,
) {
    /** True when child worker processes can address these bytes (the buffer lives in shared memory). */
    public val isShared: Boolean get() = sharedFile != null

    /** Unique identity of this buffer in the process. */
    public val id: Long = nextId.incrementAndGet()

    /**
     * The scope allocation that owns these bytes (set for buffers from `alloc`), or null for caller-owned
     * buffers. Tasks that use the buffer hold a reference on it so the bytes outlive them.
     */
    @Volatile
    internal var owner: Any? = null

    /**
     * For device buffers: the unfinished tasks that use them (added at submit, removed when the task is
     * terminal), so freeing memory a queued or running task still needs is refused, naming the task.
     * Null for every other buffer.
     */
    internal val users: MutableSet<Any>? =
        if (addressSpace is AddressSpace.Device && segment == null) java.util.concurrent.ConcurrentHashMap.newKeySet() else null

    /** True once the bytes were given back (the scope that allocated them ended and no task uses them). */
    @Volatile
    public var isReleased: Boolean = false
        internal set

    /** A contiguous row-major tensor over the whole buffer (or its first `shape.product()` elements). */
    public fun tensor(dtype: DType, vararg shape: Long): Tensor = Tensor.contiguous(this, 0, dtype, shape)

    /** A strided view: [offsetElements] from the start, [shape] and [strides] in elements. */
    public fun view(dtype: DType, offsetElements: Long, shape: LongArray, strides: LongArray): Tensor =
        Tensor(this, offsetElements * dtype.byteSize, shape.copyOf(), strides.copyOf(), dtype)

    override fun toString(): String = "Buffer($label, id=$id, $byteSize B, $addressSpace${if (isShared) ", shared" else ""})"

    public companion object {
        private val nextId = AtomicLong()

        /**
         * Allocates a zeroed host buffer of [byteSize] bytes, 64-byte aligned. Its memory is given back by
         * the garbage collector once no reference to the buffer or a view of it remains.
         */
        @JvmStatic
        @JvmOverloads
        public fun host(byteSize: Long, label: String = "host", access: Access = Access.READ_WRITE): Buffer {
            require(byteSize >= 0) { "buffer size must be >= 0, was $byteSize" }
            val segment = Arena.ofAuto().allocate(maxOf(byteSize, 1), 64)
            return Buffer(byteSize, AddressSpace.Host, access, label, segment)
        }

        /** A host buffer over [segment] (a remote task's copy of its transfer units). */
        internal fun wrap(segment: MemorySegment, label: String): Buffer =
            Buffer(segment.byteSize(), AddressSpace.Host, Access.READ_WRITE, label, segment)

        /** A buffer in [space] without memory behind it (footprint and validation tests). */
        internal fun opaque(byteSize: Long, space: AddressSpace, label: String): Buffer =
            Buffer(byteSize, space, Access.READ_WRITE, label, null)

        /** A buffer in [space] without host-visible memory: device memory at [deviceAddress] of a chip. */
        internal fun device(byteSize: Long, space: AddressSpace.Device, label: String, deviceAddress: Long): Buffer =
            Buffer(byteSize, space, Access.READ_WRITE, label, null, deviceAddress = deviceAddress)
    }
}
