package dev.strata.process

import dev.strata.mailbox.Mailbox
import dev.strata.mailbox.MailboxLayout
import dev.strata.shm.SharedMemoryFile
import dev.strata.error.ProtocolException
import dev.strata.task.TaskArgs
import dev.strata.tensor.Access
import dev.strata.tensor.AddressSpace
import dev.strata.tensor.Buffer
import dev.strata.tensor.DType
import dev.strata.tensor.Tag
import io.kotest.assertions.throwables.shouldThrow
import io.kotest.core.spec.style.FunSpec
import io.kotest.matchers.shouldBe
import io.kotest.matchers.string.shouldContain

class TaskWireSpec : FunSpec({
    test("device tensors travel as (device pointer, size, view) and are resolved by the chip; other workers reject them") {
        val device = Buffer.device(4096, AddressSpace.Device(2), "dev", 0x1234_0000L)
        val args = TaskArgs.build { add(device.view(DType.F32, 8, longArrayOf(16), longArrayOf(1)), Tag.INOUT) }
        val box = Mailbox.create("test", java.lang.foreign.Arena.ofAuto().allocate(MailboxLayout.totalSize(4096, 4096), 64), 4096, 4096)
        TaskWire.Writer().encode(1, 0, 1, "k", args).writeTo(box)
        SharedMappings().use { maps ->
            val local = Buffer.host(4096, "chip-side")
            var asked: Pair<Long, Long>? = null
            val d = TaskWire.decode("test", box.readArgs(), maps) { ptr, bytes, _ -> asked = ptr to bytes; local }
            asked shouldBe (0x1234_0000L to 4096L)
            d.args.tensor(0).buffer shouldBe local
            d.args.tensor(0).byteOffset shouldBe 32
            d.args.arg(0).tag shouldBe Tag.INOUT
            shouldThrow<ProtocolException> { TaskWire.decode("test", box.readArgs(), maps) }.message shouldContain "not a chip"
        }
    }

    test("a control request with an op code no op has is a protocol violation naming the code") {
        val box = Mailbox.create("test", java.lang.foreign.Arena.ofAuto().allocate(MailboxLayout.totalSize(4096, 4096), 64), 4096, 4096)
        box.writeArgs(java.nio.ByteBuffer.allocate(16).order(java.nio.ByteOrder.LITTLE_ENDIAN).putInt(99).putInt(0).putInt(0).putInt(0).array())
        shouldThrow<ProtocolException> { TaskWire.decodeOp("test", box.readArgs()) }.message shouldContain "unknown control op 99"
    }

    test("control requests carry an id, a text and 64-bit operands") {
        val box = Mailbox.create("test", java.lang.foreign.Arena.ofAuto().allocate(MailboxLayout.totalSize(4096, 4096), 64), 4096, 4096)
        TaskWire.Writer().op(ControlOp.COPY_TO, 3, "/dev/shm/x", longArrayOf(0x10_0000_0000L, 64, -1)).writeTo(box)
        val op = TaskWire.decodeOp("test", box.readArgs())
        op.op shouldBe ControlOp.COPY_TO
        op.id shouldBe 3
        op.text shouldBe "/dev/shm/x"
        op.longs.toList() shouldBe listOf(0x10_0000_0000L, 64L, -1L)
    }

    test("a task's arguments survive the wire: views of shared files, tags, scalars, names") {
        SharedMemoryFile.create(4096, "buffer").use { f ->
            val buffer = Buffer(1024, AddressSpace.Host, Access.READ_ONLY, "w", f.segment.asSlice(512, 1024), f.path.toString(), 512)
            val view = buffer.view(DType.I32, 3, longArrayOf(4, 5), longArrayOf(10, 2))
            val args = TaskArgs.build { add(view, Tag.INPUT); scalar(-7); scalar(Long.MAX_VALUE) }
            val box = Mailbox.create("test", java.lang.foreign.Arena.ofAuto().allocate(MailboxLayout.totalSize(4096, 4096), 64), 4096, 4096)
            TaskWire.Writer().encode(42, 1, 3, "näme", args).writeTo(box)
            SharedMappings().use { maps ->
                val d = TaskWire.decode("test", box.readArgs(), maps)
                d.taskId shouldBe 42
                d.member shouldBe 1
                d.groupSize shouldBe 3
                d.name shouldBe "näme"
                val t = d.args.tensor(0)
                d.args.arg(0).tag shouldBe Tag.INPUT
                t.shape.toList() shouldBe listOf(4L, 5L)
                t.strides.toList() shouldBe listOf(10L, 2L)
                t.byteOffset shouldBe 12
                t.buffer.access shouldBe Access.READ_ONLY
                d.args.scalar(0) shouldBe -7
                d.args.scalar(1) shouldBe Long.MAX_VALUE
                // Same bytes: a write through the parent's view is read through the child's mapping.
                view.setInt(2, 3, 12345)
                t.getInt(2, 3) shouldBe 12345
            }
        }
    }

    test("truncated or inconsistent arguments are a ProtocolException, not a crash") {
        val box = Mailbox.create("bad", java.lang.foreign.Arena.ofAuto().allocate(MailboxLayout.totalSize(256, 4096), 64), 256, 4096)
        box.writeArgs(byteArrayOf(1, 2, 3))
        shouldThrow<ProtocolException> { TaskWire.decode("bad", box.readArgs(), SharedMappings()) }.message!! shouldContain "end early"
        box.writeArgs(ByteArray(24) { if (it == 16) 0x7F else 0 })
        shouldThrow<ProtocolException> { TaskWire.decode("bad", box.readArgs(), SharedMappings()) }
    }

    test("the child's mapping cache keeps at most its capacity, unmapping the least recently used") {
        val files = List(3) { SharedMemoryFile.create(4096, "buffer") }
        try {
            SharedMappings(capacity = 2).use { maps ->
                val first = maps.buffer(files[0].path.toString(), 0, 64, Access.READ_WRITE)
                maps.buffer(files[1].path.toString(), 0, 64, Access.READ_WRITE)
                maps.buffer(files[2].path.toString(), 0, 64, Access.READ_WRITE)
                maps.size shouldBe 2
                shouldThrow<IllegalStateException> { first.tensor(DType.U8, 64).getByteAt(0) } // unmapped
            }
        } finally {
            files.forEach { it.close() }
        }
    }
})
