package dev.strata.shm

import io.kotest.core.spec.style.FunSpec
import io.kotest.engine.spec.tempdir
import io.kotest.matchers.shouldBe
import java.nio.channels.FileChannel
import java.nio.file.Files
import java.nio.file.Path
import java.nio.file.StandardOpenOption
import java.util.concurrent.TimeUnit

/**
 * Holds an exclusive lock on the file named in args[0] until killed, printing "locked" once it holds it:
 * a live Strata owner as another process (or pid namespace) sees it.
 */
object HoldsLock {
    @JvmStatic
    fun main(args: Array<String>) {
        val ch = FileChannel.open(Path.of(args[0]), StandardOpenOption.WRITE)
        ch.lock()
        println("locked")
        System.out.flush()
        Thread.sleep(Long.MAX_VALUE)
    }
}

/** The sweeper judges ownership by the owner's lock, not by whether it can see the owner's pid (issue 13 §18). */
class SegmentSweeperSpec : FunSpec({
    /** A pid no process here has: what a live parent in another pid namespace looks like from this one. */
    val invisiblePid = 2_000_000_000L + ProcessHandle.current().pid()

    fun files(dir: Path, pid: Long): List<Path> = listOf("owner-0123", "mailbox-aa", "doorbell-bb").map { kind ->
        dir.resolve("${SharedMemoryFile.PREFIX}$pid-$kind").also { Files.write(it, byteArrayOf(0)) }
    }

    test("a live owner's files stay although its pid is invisible; once its lock is free they go") {
        val dir = tempdir("sweep").toPath()
        val all = files(dir, invisiblePid)
        val holder = ProcessBuilder(
            Path.of(System.getProperty("java.home"), "bin", "java").toString(), "-cp", System.getProperty("java.class.path"),
            HoldsLock::class.java.name, all[0].toString(),
        ).redirectErrorStream(true).start()
        try {
            holder.inputStream.bufferedReader().readLine() shouldBe "locked"
            SegmentSweeper.sweep(dir) shouldBe 0
            all.all { Files.exists(it) } shouldBe true // the old sweeper deleted these: pid not visible
        } finally {
            holder.destroyForcibly().waitFor(10, TimeUnit.SECONDS)
        }
        SegmentSweeper.sweep(dir) shouldBe 2 // the owner died: its lock went with it
        all.none { Files.exists(it) } shouldBe true
    }

    test("files of a pid without an owner file are left alone (ownership unknown)") {
        val dir = tempdir("sweep-unknown").toPath()
        val f = dir.resolve("${SharedMemoryFile.PREFIX}$invisiblePid-mailbox-cc").also { Files.write(it, byteArrayOf(0)) }
        SegmentSweeper.sweep(dir) shouldBe 0
        Files.exists(f) shouldBe true
    }

    test("this process holds its own owner lock from its first segment on") {
        SharedMemoryFile.create(64, "probe").use { }
        val mine = Files.list(SharedMemoryFile.DIRECTORY).use { s ->
            s.filter { it.fileName.toString().startsWith("${SharedMemoryFile.PREFIX}${ProcessHandle.current().pid()}-owner-") }.toList()
        }
        mine.size shouldBe 1
        OwnerOnly.mode(mine.single()) shouldBe "rw-------"
    }
})
