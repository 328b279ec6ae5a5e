package dev.strata.task

import dev.strata.tensor.AddressSpace
import dev.strata.tensor.Buffer
import dev.strata.tensor.DType
import io.kotest.assertions.throwables.shouldThrow
import io.kotest.core.spec.style.FunSpec
import io.kotest.matchers.shouldBe
import io.kotest.matchers.string.shouldContain
import io.kotest.property.Arb
import io.kotest.property.arbitrary.int
import io.kotest.property.arbitrary.list
import io.kotest.property.checkAll
import java.nio.ByteBuffer
import java.nio.ByteOrder

/** The argument block a kernel gets is the C struct it declares: natural alignment, little-endian, padded to 8. */
class KernelArgsSpec : FunSpec({
    test("any sequence of fields lands at its C offset, with its value, the block padded to 8 bytes (property)") {
        checkAll(200, Arb.list(Arb.int(0, 3), 0..24), Arb.int()) { kinds, seed ->
            val b = KernelArgs.Builder()
            var offset = 0
            val expected = ArrayList<Triple<Int, Int, Long>>() // kind, offset, value bits
            for ((i, k) in kinds.withIndex()) {
                val v = seed.toLong() * 31 + i
                val size = if (k == 0 || k == 2) 4 else 8
                offset = (offset + size - 1) / size * size
                when (k) {
                    0 -> b.int(v.toInt())
                    1 -> b.long(v)
                    2 -> b.float(v.toFloat())
                    else -> b.double(v.toDouble())
                }
                expected += Triple(k, offset, v)
                offset += size
            }
            val args = b.build()
            args.size shouldBe maxOf(8, (offset + 7) / 8 * 8)
            val bytes = ByteBuffer.wrap(args.toByteArray()).order(ByteOrder.LITTLE_ENDIAN)
            for ((k, at, v) in expected) {
                when (k) {
                    0 -> bytes.getInt(at) shouldBe v.toInt()
                    1 -> bytes.getLong(at) shouldBe v
                    2 -> bytes.getFloat(at) shouldBe v.toFloat()
                    else -> bytes.getDouble(at) shouldBe v.toDouble()
                }
            }
        }
    }

    test("a pointer is the device address of the tensor's first element; host memory and freed memory are refused") {
        val device = Buffer.device(4096, AddressSpace.Device(0), "d", 0x10_0000_0000L)
        val view = device.tensor(DType.I32, 1024).slice(0, 10, 20)
        val bytes = ByteBuffer.wrap(KernelArgs.Builder().int(7).pointer(view).build().toByteArray()).order(ByteOrder.LITTLE_ENDIAN)
        bytes.getInt(0) shouldBe 7
        bytes.getLong(8) shouldBe 0x10_0000_0000L + 40
        shouldThrow<IllegalArgumentException> { KernelArgs.Builder().pointer(Buffer.host(64).tensor(DType.I32, 16)) }.message shouldContain "not device memory"
        device.isReleased = true
        shouldThrow<IllegalArgumentException> { KernelArgs.Builder().pointer(view) }.message shouldContain "was freed"
    }
})
