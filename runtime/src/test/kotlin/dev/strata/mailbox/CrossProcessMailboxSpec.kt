package dev.strata.mailbox

import io.kotest.core.spec.style.FunSpec
import io.kotest.matchers.shouldBe
import java.nio.file.Files
import java.nio.file.Path
import java.nio.file.Paths
import java.util.concurrent.TimeUnit
import dev.strata.shm.SharedMemoryFile

private const val SECOND = 1_000_000_000L

/**
 * The child side of [CrossProcessMailboxSpec]: opens the mailbox named on the command line, announces
 * itself, then answers [rounds] tasks by incrementing the first argument byte, parking between them.
 */
object PingPongChild {
    @JvmStatic
    fun main(args: Array<String>) {
        val rounds = args[1].toInt()
        SharedMemoryFile.open(Paths.get(args[0])).use { file ->
            val m = Mailbox.open(args[0], file.segment)
            MailboxParking(m, MailboxSide.CHILD).use { c ->
                m.childPid = ProcessHandle.current().pid().toInt()
                c.publish(MailboxState.INIT_READY)
                var done = 0
                while (done < rounds) {
                    var s = m.state()
                    while (s != MailboxState.TASK_READY && s != MailboxState.SHUTDOWN) s = c.awaitChange(s, 20_000, 10 * SECOND)
                    if (s == MailboxState.SHUTDOWN) return
                    m.writeArgs(byteArrayOf(m.readArgs()[0].inc()))
                    m.beat()
                    c.publish(MailboxState.TASK_DONE)
                    done++
                }
            }
        }
    }
}

class CrossProcessMailboxSpec : FunSpec({
    test("a child JVM sees the parent's payload with each state, and both sides park and wake across processes") {
        val rounds = 2_000
        val file = SharedMemoryFile.create(MailboxLayout.totalSize(256, 4096), "mailbox")
        var child: Process? = null
        try {
            val m = Mailbox.create(file.path.toString(), file.segment, 256, 4096)
            val java = Path.of(System.getProperty("java.home"), "bin", "java").toString()
            child = ProcessBuilder(
                java, "--enable-native-access=ALL-UNNAMED", "-cp", System.getProperty("java.class.path"),
                PingPongChild::class.java.name, file.path.toString(), rounds.toString(),
            ).redirectErrorStream(true).redirectOutput(ProcessBuilder.Redirect.DISCARD).start()
            MailboxParking(m, MailboxSide.PARENT).use { p ->
                p.awaitChange(MailboxState.IDLE, 0, 30 * SECOND) shouldBe MailboxState.INIT_READY
                m.childPid.toLong() shouldBe child.pid()
                for (r in 0 until rounds) {
                    m.writeArgs(byteArrayOf(r.toByte()))
                    p.publish(MailboxState.TASK_READY)
                    var s = MailboxState.TASK_READY
                    while (s == MailboxState.TASK_READY) s = p.awaitChange(s, 20_000, 10 * SECOND)
                    s shouldBe MailboxState.TASK_DONE
                    m.readArgs()[0] shouldBe (r + 1).toByte()
                }
                m.heartbeat shouldBe rounds.toLong()
            }
            child.waitFor(30, TimeUnit.SECONDS) shouldBe true
            child.exitValue() shouldBe 0
        } finally {
            child?.let { if (it.isAlive) it.destroyForcibly().waitFor(10, TimeUnit.SECONDS) }
            file.close()
        }
        Files.exists(file.path) shouldBe false
    }
})
