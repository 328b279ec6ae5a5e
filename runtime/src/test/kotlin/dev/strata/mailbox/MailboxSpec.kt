package dev.strata.mailbox

import dev.strata.error.ProtocolException
import io.kotest.assertions.throwables.shouldThrow
import io.kotest.core.spec.style.FunSpec
import io.kotest.matchers.shouldBe
import io.kotest.matchers.shouldNotBe
import io.kotest.matchers.string.shouldContain
import io.kotest.matchers.string.shouldEndWith
import io.kotest.matchers.string.shouldStartWith
import java.lang.foreign.Arena
import java.lang.foreign.ValueLayout
import java.nio.file.Files
import java.nio.file.attribute.PosixFilePermissions
import java.util.concurrent.CompletableFuture
import java.util.concurrent.TimeUnit
import dev.strata.shm.SharedMemoryFile

private fun fresh(arena: Arena, args: Int = 1024, error: Int = 4096): Mailbox {
    val seg = arena.allocate(MailboxLayout.totalSize(args, error), 64)
    return Mailbox.create("test", seg, args, error)
}

class MailboxSpec : FunSpec({
    test("a created mailbox opens again with the same capacities and starts IDLE") {
        Arena.ofConfined().use { arena ->
            val seg = arena.allocate(MailboxLayout.totalSize(1024, 4096), 64)
            Mailbox.create("m", seg, 1024, 4096)
            val m = Mailbox.open("m", seg)
            m.argsCapacity shouldBe 1024
            m.errorCapacity shouldBe 4096
            m.state() shouldBe MailboxState.IDLE
        }
    }

    test("open reports bad magic and version together") {
        Arena.ofConfined().use { arena ->
            val seg = arena.allocate(MailboxLayout.totalSize(1024, 4096), 64)
            Mailbox.create("m", seg, 1024, 4096)
            seg.set(ValueLayout.JAVA_INT, MailboxLayout.MAGIC_OFFSET, 0x0BADF00D)
            seg.set(ValueLayout.JAVA_INT, MailboxLayout.VERSION_OFFSET, 99)
            val e = shouldThrow<ProtocolException> { Mailbox.open("m", seg) }
            e.message shouldContain "mailbox m"
            e.message shouldContain "magic is 0xbadf00d"
            e.message shouldContain "protocol version 99"
        }
    }

    test("an unknown state value is a protocol violation naming the mailbox, not a crash") {
        Arena.ofConfined().use { arena ->
            val m = fresh(arena)
            m.stateWord.set(ValueLayout.JAVA_INT, 0, 4242)
            shouldThrow<ProtocolException> { m.state() }.message shouldContain "unknown state 4242"
        }
    }

    test("args are bounds-checked both ways: too big to write, a corrupt stored length to read") {
        Arena.ofConfined().use { arena ->
            val m = fresh(arena, args = 128)
            m.writeArgs(ByteArray(128) { it.toByte() })
            m.readArgs().size shouldBe 128
            shouldThrow<IllegalArgumentException> { m.writeArgs(ByteArray(129)) }.message shouldContain "args capacity 128 B"
            val seg = arena.allocate(MailboxLayout.totalSize(128, 4096), 64)
            val m2 = Mailbox.create("corrupt", seg, 128, 4096)
            seg.set(ValueLayout.JAVA_INT, MailboxLayout.ARGS_LENGTH_OFFSET, 1_000_000)
            shouldThrow<ProtocolException> { m2.readArgs() }.message shouldContain "args length 1000000 outside [0, 128]"
            seg.set(ValueLayout.JAVA_INT, MailboxLayout.ARGS_LENGTH_OFFSET, -5)
            shouldThrow<ProtocolException> { m2.readArgs() }
        }
    }

    test("an error report round-trips; an oversized one is cut at a character boundary with a marker") {
        Arena.ofConfined().use { arena ->
            val m = fresh(arena)
            m.readError() shouldBe null
            m.writeError(2, "java.lang.IllegalStateException", "boom", "at a.b(C.kt:1)")
            m.readError() shouldBe MailboxError(2, "java.lang.IllegalStateException", "boom", "at a.b(C.kt:1)")
            val stack = "é".repeat(10_000) // 2 bytes each: 20 KB of UTF-8
            m.writeError(3, "x.Big", "long", stack)
            val e = m.readError()!!
            e.errorClass shouldBe "x.Big"
            e.stack shouldStartWith "éé"
            e.stack shouldEndWith "bytes cut]"
            e.stack.contains('\uFFFD') shouldBe false // no half character
            m.clearError()
            m.readError() shouldBe null
        }
    }

    test("a long message keeps its head and leaves room for the top of the stack (issue 13 §15)") {
        Arena.ofConfined().use { arena ->
            val m = fresh(arena) // 4 KiB error region
            val stack = (1..40).joinToString("\n") { "\tat dev.strata.Kernel.frame$it(Kernel.kt:$it)" }
            m.writeError(3, "java.lang.IllegalStateException", "head of the message " + "x".repeat(100_000), stack)
            val e = m.readError()!!
            e.message!! shouldStartWith "head of the message xxx"
            e.message!! shouldEndWith " chars cut]"
            e.stack shouldStartWith "\tat dev.strata.Kernel.frame1(Kernel.kt:1)"
            e.stack shouldContain "frame20(" // the top frames survive the long message
        }
    }

    test("payload written before a published state is seen by a thread that acquires it") {
        Arena.ofShared().use { arena ->
            val m = fresh(arena)
            val parent = MailboxParking(m, MailboxSide.PARENT)
            val child = MailboxParking(m, MailboxSide.CHILD)
            repeat(2_000) { round ->
                val reader = CompletableFuture.supplyAsync {
                    while (m.state() != MailboxState.TASK_READY) Thread.onSpinWait()
                    val args = m.readArgs()
                    val seq = m.dispatchSeq
                    child.publish(MailboxState.TASK_DONE)
                    seq to args
                }
                val payload = ByteArray(16) { (round + it).toByte() }
                m.dispatchSeq = round.toLong()
                m.writeArgs(payload)
                parent.publish(MailboxState.TASK_READY)
                val (seq, args) = reader.get(10, TimeUnit.SECONDS)
                seq shouldBe round.toLong()
                args.contentEquals(payload) shouldBe true
                m.transition(MailboxState.TASK_DONE, MailboxState.IDLE) shouldBe true
            }
        }
    }

    test("the sticky shutdown word and the heartbeat") {
        Arena.ofConfined().use { arena ->
            val m = fresh(arena)
            m.isShutdownRequested shouldBe false
            m.requestShutdown()
            m.isShutdownRequested shouldBe true
            m.beat(); m.beat()
            m.heartbeat shouldBe 2L
            m.childPid = 4321
            m.childPid shouldBe 4321
        }
    }

    test("a shared-memory file is 0600, unguessably named, shared between mappings, and gone after close") {
        val file = SharedMemoryFile.create(MailboxLayout.totalSize(1024, 4096), "mailbox")
        val path = file.path
        try {
            path.fileName.toString() shouldStartWith "${SharedMemoryFile.PREFIX}${ProcessHandle.current().pid()}-mailbox-"
            path.fileName.toString().substringAfterLast('-').length shouldBe 16
            PosixFilePermissions.toString(Files.getPosixFilePermissions(path)) shouldBe "rw-------"
            val m = Mailbox.create(path.toString(), file.segment, 1024, 4096)
            m.writeArgs(byteArrayOf(1, 2, 3))
            SharedMemoryFile.open(path).use { other ->
                val seen = Mailbox.open(path.toString(), other.segment)
                seen.readArgs().toList() shouldBe listOf<Byte>(1, 2, 3)
            }
            SharedMemoryFile.create(4096, "mailbox").use { second -> second.path shouldNotBe path }
        } finally {
            file.close()
        }
        Files.exists(path) shouldBe false
    }
})
