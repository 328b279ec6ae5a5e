package dev.strata.task

import dev.strata.tensor.Tensor
import java.io.ByteArrayOutputStream
import java.nio.ByteBuffer
import java.nio.ByteOrder

/**
 * A kernel's packed argument block, laid out as the C struct a kernel declares: each field at its
 * natural alignment (pointers and 64-bit values 8, 32-bit values 4), the whole padded to 8 bytes,
 * little-endian. `KernelArgs.Builder().pointer(data).long(n).int(add).build()` matches
 * `struct { int32_t *data; uint64_t n; int32_t add; }`. Immutable.
 */
public class KernelArgs private constructor(private val bytes: ByteArray) {
    /** Bytes of the block. */
    public val size: Int get() = bytes.size

    /** A copy of the packed bytes. */
    public fun toByteArray(): ByteArray = bytes.copyOf()

    override fun toString(): String = "KernelArgs($size B)"

    internal companion object {
        /** The device pointer of [tensor]'s first element; throws unless it is device memory of the chip. */
        fun pointerOf(tensor: Tensor): Long {
            val b = tensor.buffer
            require(b.deviceAddress != 0L) {
                "$tensor is not device memory of this chip (host memory, or a peer's window); kernels and collectives take their own chip's memory"
            }
            require(!b.isReleased) { "$tensor was freed" }
            return b.deviceAddress + tensor.byteOffset
        }
    }

    /** Builds a [KernelArgs]; not thread-safe. */
    public class Builder {
        private val out = ByteArrayOutputStream()
        private val scratch = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN)

        private fun put(align: Int, bytes: Int, write: ByteBuffer.() -> Unit): Builder {
            while (out.size() % align != 0) out.write(0)
            scratch.clear()
            scratch.write()
            out.write(scratch.array(), 0, bytes)
            return this
        }

        /**
         * The device pointer of [tensor]'s first element: [tensor] must be device memory of the chip the
         * kernel runs on (a device tensor the task got, or a view of this chip's window).
         */
        public fun pointer(tensor: Tensor): Builder = long(pointerOf(tensor))

        /** A 64-bit field. */
        public fun long(value: Long): Builder = put(8, 8) { putLong(value) }

        /** A 32-bit field. */
        public fun int(value: Int): Builder = put(4, 4) { putInt(value) }

        /** A 32-bit float field. */
        public fun float(value: Float): Builder = put(4, 4) { putFloat(value) }

        /** A 64-bit float field. */
        public fun double(value: Double): Builder = put(8, 8) { putDouble(value) }

        /** The packed block, padded to 8 bytes (at least 8). */
        public fun build(): KernelArgs {
            while (out.size() % 8 != 0 || out.size() == 0) out.write(0)
            return KernelArgs(out.toByteArray())
        }
    }
}
