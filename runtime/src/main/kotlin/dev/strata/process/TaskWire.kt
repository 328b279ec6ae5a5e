package dev.strata.process

import dev.strata.mailbox.Mailbox
import dev.strata.shm.SharedMemoryFile
import dev.strata.error.ProtocolException
import dev.strata.task.TaskArgs
import dev.strata.tensor.Access
import dev.strata.tensor.AddressSpace
import dev.strata.tensor.Buffer
import dev.strata.tensor.DType
import dev.strata.tensor.Tag
import dev.strata.tensor.Tensor
import java.nio.BufferUnderflowException
import java.nio.ByteBuffer
import java.nio.file.Paths

/**
 * How one task member's arguments travel in a mailbox's args blob (little-endian; docs/protocol.md):
 * ```
 * i64 task id | i32 member | i32 group size | str task name
 * i32 tensor count, then per tensor:
 *     u8 tag | u8 dtype | u8 access | str shared file | i64 buffer offset in file | i64 buffer bytes
 *     i64 view byte offset | i32 rank | rank × i64 shape | rank × i64 strides (elements)
 * i32 scalar count | count × i64
 * ```
 * `str` is an i32 byte length and UTF-8 bytes. Tensors name the shared-memory file of their buffer;
 * the child maps it once and keeps it ([SharedMappings]).
 */
internal object TaskWire {
    /** A decoded task member. */
    class Decoded(val taskId: Long, val member: Int, val groupSize: Int, val name: String, val args: TaskArgs)

    /** Reused per endpoint; not thread-safe. */
    class Writer {
        private var buf: ByteBuffer = ByteBuffer.allocate(512).order(java.nio.ByteOrder.LITTLE_ENDIAN)

        fun encode(taskId: Long, member: Int, groupSize: Int, name: String, args: TaskArgs): Writer {
            buf.clear()
            long(taskId); int(member); int(groupSize); str(name)
            int(args.tensorCount)
            for (i in 0 until args.tensorCount) {
                val a = args.arg(i)
                val t = a.tensor
                val b = t.buffer
                val device = b.addressSpace is AddressSpace.Device
                val file = if (device) DEVICE else b.sharedFile ?: throw IllegalArgumentException(
                    "argument $i ($t) is in private host memory, which a child process cannot see",
                )
                room(64 + t.rank * 16)
                buf.put(a.tag.ordinal.toByte()).put(t.dtype.ordinal.toByte()).put(b.access.ordinal.toByte())
                str(file)
                long(if (device) b.deviceAddress else b.sharedOffset); long(b.byteSize); long(t.byteOffset)
                val shape = t.shape
                val strides = t.strides
                int(shape.size)
                for (d in shape) long(d)
                for (d in strides) long(d)
            }
            int(args.scalarCount)
            for (i in 0 until args.scalarCount) long(args.scalar(i))
            return this
        }

        fun op(op: ControlOp, id: Int = 0, text: String = "", longs: LongArray = LongArray(0)): Writer {
            buf.clear()
            int(op.code); int(id); str(text)
            int(longs.size)
            for (v in longs) long(v)
            return this
        }

        fun writeTo(m: Mailbox) = m.writeArgs(buf.array(), buf.position())

        private fun room(n: Int) {
            if (buf.remaining() < n) {
                val bigger = ByteBuffer.allocate(maxOf(buf.capacity() * 2, buf.position() + n)).order(java.nio.ByteOrder.LITTLE_ENDIAN)
                buf.flip()
                bigger.put(buf)
                buf = bigger
            }
        }

        private fun int(v: Int) { room(4); buf.putInt(v) }
        private fun long(v: Long) { room(8); buf.putLong(v) }
        private fun str(s: String) {
            val b = s.toByteArray(Charsets.UTF_8)
            room(4 + b.size)
            buf.putInt(b.size).put(b)
        }
    }

    /**
     * Decodes a task member; throws [ProtocolException] naming [mailbox] for anything malformed. Device
     * tensors (file [DEVICE], the offset being the device pointer) go through [device]: the chip's own
     * resolver; a worker that is not a chip has none and rejects them.
     */
    fun decode(
        mailbox: String,
        bytes: ByteArray,
        mappings: SharedMappings,
        device: ((pointer: Long, bytes: Long, label: String) -> Buffer)? = null,
    ): Decoded = parse(mailbox, bytes) { b ->
        val taskId = b.long
        val member = b.int
        val groupSize = b.int
        val name = str(mailbox, b)
        val n = b.int
        if (n < 0 || n > 4096) throw ProtocolException(mailbox, "tensor count $n")
        val builder = TaskArgs.Builder()
        repeat(n) {
            val tag = Tag.entries.getOrNull(b.get().toInt()) ?: throw ProtocolException(mailbox, "bad tag")
            val dtype = DType.entries.getOrNull(b.get().toInt()) ?: throw ProtocolException(mailbox, "bad dtype")
            val access = Access.entries.getOrNull(b.get().toInt()) ?: throw ProtocolException(mailbox, "bad access")
            val file = str(mailbox, b)
            val offset = b.long
            val bytesLen = b.long
            val viewOffset = b.long
            val rank = b.int
            if (rank < 0 || rank > 64) throw ProtocolException(mailbox, "tensor rank $rank")
            val shape = LongArray(rank) { b.long }
            val strides = LongArray(rank) { b.long }
            val buffer = if (file == DEVICE) {
                device?.invoke(offset, bytesLen, "device@0x${offset.toString(16)}")
                    ?: throw ProtocolException(mailbox, "a device tensor was sent to a worker that is not a chip")
            } else {
                mappings.buffer(file, offset, bytesLen, access)
            }
            builder.add(Tensor(buffer, viewOffset, shape, strides, dtype), tag)
        }
        val scalars = b.int
        if (scalars < 0 || scalars > 1 shl 16) throw ProtocolException(mailbox, "scalar count $scalars")
        repeat(scalars) { builder.scalar(b.long) }
        Decoded(taskId, member, groupSize, name, builder.build())
    }

    /** A decoded control request. */
    class Op(val op: ControlOp, val id: Int, val text: String, val longs: LongArray)

    /** A control request: op code, an id, a text and 64-bit operands. */
    fun decodeOp(mailbox: String, bytes: ByteArray): Op = parse(mailbox, bytes) { b ->
        val code = b.int
        val op = ControlOp.of(code) ?: throw ProtocolException(mailbox, "unknown control op $code")
        val id = b.int
        val text = str(mailbox, b)
        val n = if (b.remaining() >= 4) b.int else 0
        if (n < 0 || n > 64) throw ProtocolException(mailbox, "control operand count $n")
        Op(op, id, text, LongArray(n) { b.long })
    }

    private inline fun <T> parse(mailbox: String, bytes: ByteArray, body: (ByteBuffer) -> T): T {
        val b = ByteBuffer.wrap(bytes).order(java.nio.ByteOrder.LITTLE_ENDIAN)
        return try {
            body(b)
        } catch (e: BufferUnderflowException) {
            throw ProtocolException(mailbox, "arguments end early (${bytes.size} B)")
        }
    }

    private fun str(mailbox: String, b: ByteBuffer): String {
        val n = b.int
        if (n < 0 || n > b.remaining()) throw ProtocolException(mailbox, "string length $n with ${b.remaining()} B left")
        val bytes = ByteArray(n)
        b.get(bytes)
        return String(bytes, Charsets.UTF_8)
    }

    /** The file name that marks a device tensor in the args wire (its offset is the device pointer). */
    const val DEVICE = "@device"
}

/**
 * The child's mapped shared-memory files, by path: mapped on first use, kept for later tasks, at most
 * [capacity] at once (the least recently used is unmapped between tasks). Only segments [SegmentTrust]
 * accepts are mapped.
 */
internal class SharedMappings(private val capacity: Int = 64) : AutoCloseable {
    private val files = object : LinkedHashMap<String, SharedMemoryFile>(16, 0.75f, true) {
        override fun removeEldestEntry(eldest: MutableMap.MutableEntry<String, SharedMemoryFile>): Boolean =
            (size > capacity).also { if (it) eldest.value.close() }
    }

    val size: Int get() = files.size

    fun buffer(path: String, offset: Long, bytes: Long, access: Access): Buffer {
        val f = files.getOrPut(path) { SharedMemoryFile.open(SegmentTrust.check(path)) }
        val seg = f.segment.asSlice(offset, bytes)
        return Buffer(bytes, AddressSpace.Host, access, Paths.get(path).fileName.toString(), seg, path, offset)
    }

    override fun close() {
        files.values.forEach { it.close() }
        files.clear()
    }
}

/**
 * Which shared-memory files this JVM maps when a task or control request names one (issue 13 §17): a
 * path read from shared memory is never trusted. A file must sit directly in [SharedMemoryFile.DIRECTORY],
 * be named like a Strata segment of a trusted process (`strata-<pid>-<kind>-<hex>`), be a regular file
 * (not a link) and belong to this user. Trusted pids are this process and [owners]: a child's parent and
 * the parent's own trusted ancestors (a level-4 program's tensor reaches a level-3 child's sub child).
 */
internal object SegmentTrust {
    private val NAME = Regex("""${SharedMemoryFile.PREFIX}(\d+)-[a-z0-9]+-[0-9a-f]+""")

    /** Set once by a child JVM at start from its spec; empty in a process nobody launched. */
    @Volatile
    var owners: List<Long> = emptyList()

    /** What a child launched by this process may trust: our own trust and us. */
    fun forChild(): List<Long> = owners + ProcessHandle.current().pid()

    /** [path] if this process may map it; otherwise throws [SecurityException] naming it and the rule it breaks. */
    fun check(path: String): java.nio.file.Path {
        val p = Paths.get(path)
        fun refuse(why: String): Nothing = throw SecurityException("refusing to map '$path': $why (only this worker's own shared-memory segments are mapped)")
        val dir = SharedMemoryFile.DIRECTORY.toAbsolutePath().normalize()
        if (p.toAbsolutePath().normalize().parent != dir || p.normalize() != p) refuse("it is not a file directly in $dir")
        val m = NAME.matchEntire(p.fileName.toString()) ?: refuse("it is not named like a Strata segment")
        val pid = m.groupValues[1].toLongOrNull() ?: refuse("it is not named like a Strata segment")
        if (pid != ProcessHandle.current().pid() && pid !in owners) refuse("it belongs to process $pid, which is not this worker or one of its parents")
        if (!java.nio.file.Files.isRegularFile(p, java.nio.file.LinkOption.NOFOLLOW_LINKS)) refuse("it is not a regular file")
        val owner = java.nio.file.Files.getOwner(p, java.nio.file.LinkOption.NOFOLLOW_LINKS).name
        if (owner != System.getProperty("user.name")) refuse("it belongs to user $owner")
        return p
    }
}
