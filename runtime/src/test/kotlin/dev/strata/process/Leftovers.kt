package dev.strata.process

import dev.strata.shm.SharedMemoryFile
import io.kotest.assertions.fail
import java.nio.file.Files

// Public: other modules' tests use these through the runtime's test jar.

/** This JVM's child processes that are still alive. */
public fun liveChildren(): List<ProcessHandle> = ProcessHandle.current().children().filter { it.isAlive }.toList()

/** Shared-memory files this JVM created and did not remove (not its owner lock, held for the JVM's life). */
public fun ownShmFiles(): List<String> = Files.list(SharedMemoryFile.DIRECTORY).use { s ->
    val own = "${SharedMemoryFile.PREFIX}${ProcessHandle.current().pid()}-"
    val emulated = "hccl-emu-${ProcessHandle.current().pid()}-" // an emulated HCCL rendezvous this JVM created
    s.map { it.fileName.toString() }.filter { (it.startsWith(own) && !it.startsWith("${own}owner-")) || it.startsWith(emulated) }.toList()
}

/**
 * Fails if a child process or a shared-memory file of this JVM is left (waits briefly for exiting
 * children), after removing them so one failure does not cascade into the next test. [where] names the
 * scope in the message.
 */
public fun assertNoLeftovers(where: String = "the test") {
    val deadline = System.nanoTime() + 5_000_000_000L
    while (liveChildren().isNotEmpty() && System.nanoTime() < deadline) Thread.sleep(10)
    val children = liveChildren()
    val files = ownShmFiles()
    if (children.isNotEmpty() || files.isNotEmpty()) {
        children.forEach { it.destroyForcibly() }
        files.forEach { Files.deleteIfExists(SharedMemoryFile.DIRECTORY.resolve(it)) }
        fail("$where left child processes ${children.map { it.pid() }} and shared-memory files $files")
    }
}
