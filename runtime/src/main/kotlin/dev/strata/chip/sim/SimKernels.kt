package dev.strata.chip.sim

import dev.strata.chip.HostAddressable
import dev.strata.task.ReduceOp
import dev.strata.tensor.DType
import java.lang.foreign.MemorySegment
import java.lang.foreign.ValueLayout

/**
 * A simulated chip's kernel module (what `aclrtBinaryLoadFromFile` loads on hardware): Kotlin kernels by
 * name. Name a `SimKernelBinary` by its class name (an `object`, or a class with a no-arg constructor)
 * where a program loads a binary under `sim`.
 */
public interface SimKernelBinary {
    /** The module's kernels, by name. */
    public val kernels: Map<String, SimKernel>
}

/**
 * One simulated kernel, in the same ABI as a kernel compiled for the ACL emulator
 * (`void kernel(void *args, uint32_t blockIdx, uint32_t numBlocks)`): called once per block with the
 * packed argument block; pointers in it are device pointers of [memory]'s chip.
 */
public fun interface SimKernel {
    /** Runs block [block] of [blocks]; [args] is the packed argument block (read fields with [ValueLayout]s). */
    public fun run(args: MemorySegment, block: Int, blocks: Int, memory: HostAddressable)
}

/**
 * The elements block [block] of [blocks] handles when [n] elements are split the way the emulator's C
 * kernels split them (`ceil(n / blocks)` each, the last block shorter, trailing blocks possibly empty).
 */
public fun blockRange(n: Long, block: Int, blocks: Int): LongRange {
    val per = (n + blocks - 1) / blocks
    val from = block * per
    return from until minOf(n, from + per)
}

/** The element-wise reduction of a simulated collective, in rank order (the same order on every rank, so every rank gets the same bits). */
internal fun interface SimReduce {
    /** Combines the first [bytes] of every rank's staging window into [out]. */
    fun apply(ranks: Array<MemorySegment>, out: MemorySegment, bytes: Long)

    companion object {
        fun of(dtype: DType, op: ReduceOp): SimReduce = when (dtype) {
            DType.I8, DType.U8 -> ints(ValueLayout.JAVA_BYTE.byteSize(), op, dtype == DType.U8, { s, i -> s.get(ValueLayout.JAVA_BYTE, i).toLong() }) { s, i, v -> s.set(ValueLayout.JAVA_BYTE, i, v.toByte()) }
            DType.I16 -> ints(2, op, false, { s, i -> s.get(ValueLayout.JAVA_SHORT_UNALIGNED, i).toLong() }) { s, i, v -> s.set(ValueLayout.JAVA_SHORT_UNALIGNED, i, v.toInt().toShort()) }
            DType.I32, DType.U32 -> ints(4, op, dtype == DType.U32, { s, i -> s.get(ValueLayout.JAVA_INT_UNALIGNED, i).toLong() }) { s, i, v -> s.set(ValueLayout.JAVA_INT_UNALIGNED, i, v.toInt()) }
            DType.I64, DType.U64 -> ints(8, op, dtype == DType.U64, { s, i -> s.get(ValueLayout.JAVA_LONG_UNALIGNED, i) }) { s, i, v -> s.set(ValueLayout.JAVA_LONG_UNALIGNED, i, v) }
            DType.F32 -> floats(4, op, { s, i -> s.get(ValueLayout.JAVA_FLOAT_UNALIGNED, i).toDouble() }) { s, i, v -> s.set(ValueLayout.JAVA_FLOAT_UNALIGNED, i, v.toFloat()) }
            DType.F64 -> floats(8, op, { s, i -> s.get(ValueLayout.JAVA_DOUBLE_UNALIGNED, i) }) { s, i, v -> s.set(ValueLayout.JAVA_DOUBLE_UNALIGNED, i, v) }
            DType.F16, DType.BF16 -> throw UnsupportedOperationException("the sim driver's allReduce does not support ${dtype.name}; use F32 (or the acl driver)")
        }

        /** Integers combine in 64 bits and wrap to the element width; unsigned elements compare unsigned (their bits are zero-extended). */
        private fun ints(
            size: Long, op: ReduceOp, unsigned: Boolean,
            get: (MemorySegment, Long) -> Long, set: (MemorySegment, Long, Long) -> Unit,
        ): SimReduce = SimReduce { ranks, out, bytes ->
            val mask = if (size == 8L) -1L else (1L shl (8 * size).toInt()) - 1
            fun load(s: MemorySegment, i: Long) = if (unsigned) get(s, i) and mask else get(s, i)
            var i = 0L
            while (i < bytes) {
                var acc = load(ranks[0], i)
                for (r in 1 until ranks.size) {
                    val v = load(ranks[r], i)
                    acc = when (op) {
                        ReduceOp.SUM -> acc + v
                        ReduceOp.PROD -> acc * v
                        ReduceOp.MAX -> if (if (unsigned) java.lang.Long.compareUnsigned(v, acc) > 0 else v > acc) v else acc
                        ReduceOp.MIN -> if (if (unsigned) java.lang.Long.compareUnsigned(v, acc) < 0 else v < acc) v else acc
                    }
                }
                set(out, i, acc)
                i += size
            }
        }

        /** Floats combine in the element's own precision, rank 0 first (F32 sums round after each add, as a device does). */
        private fun floats(
            size: Long, op: ReduceOp,
            get: (MemorySegment, Long) -> Double, set: (MemorySegment, Long, Double) -> Unit,
        ): SimReduce = SimReduce { ranks, out, bytes ->
            val f32 = size == 4L
            var i = 0L
            while (i < bytes) {
                var acc = get(ranks[0], i)
                for (r in 1 until ranks.size) {
                    val v = get(ranks[r], i)
                    acc = when (op) {
                        ReduceOp.SUM -> acc + v
                        ReduceOp.PROD -> acc * v
                        ReduceOp.MAX -> maxOf(acc, v)
                        ReduceOp.MIN -> minOf(acc, v)
                    }
                    if (f32) acc = acc.toFloat().toDouble()
                }
                set(out, i, acc)
                i += size
            }
        }
    }
}
