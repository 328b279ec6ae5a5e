package dev.strata.shm

import io.github.oshai.kotlinlogging.KotlinLogging
import java.nio.channels.FileChannel
import java.nio.channels.OverlappingFileLockException
import java.nio.file.Files
import java.nio.file.Path
import java.nio.file.StandardOpenOption

private val log = KotlinLogging.logger {}

/**
 * Removes shared-memory files left by Strata processes that died without cleaning up (killed, crashed).
 * Run when a worker starts child processes.
 *
 * Ownership is judged by a lock, not by whether a pid is visible (issue 13 §18: from another pid
 * namespace sharing /dev/shm a live owner's pid is invisible, and a recycled pid looks alive): every
 * process that creates segments first creates `strata-<pid>-owner-<token>` and holds an exclusive
 * advisory lock on it until it exits ([OwnerLock]); the kernel drops the lock when the process dies,
 * whatever killed it. The files of a pid are removed only when its owner file exists and its lock can
 * be taken now; files of a pid without an owner file (a process between its first file and its lock, or
 * an older Strata) are left alone.
 */
internal object SegmentSweeper {
    private val NAME = Regex("""${SharedMemoryFile.PREFIX}(\d+)-(.*)""")

    /** Deletes the orphans; returns how many were removed. Never throws. */
    fun sweep(directory: Path = SharedMemoryFile.DIRECTORY): Int {
        val self = ProcessHandle.current().pid()
        var removed = 0
        try {
            val byPid = Files.list(directory).use { files ->
                files.toList().mapNotNull { f -> NAME.matchEntire(f.fileName.toString())?.let { m -> m.groupValues[1].toLongOrNull()?.let { it to f } } }
            }.filter { it.first != self }.groupBy({ it.first }, { it.second })
            for ((pid, files) in byPid) {
                val owners = files.filter { it.fileName.toString().startsWith("${SharedMemoryFile.PREFIX}$pid-${OwnerLock.KIND}-") }
                if (owners.isEmpty() || owners.any { lockHeld(it) }) continue
                for (f in files - owners.toSet()) if (Files.deleteIfExists(f)) removed++
                for (f in owners) Files.deleteIfExists(f) // last: until now, a crash here leaves the group sweepable
            }
        } catch (e: Exception) {
            log.warn(e) { "sweeping $directory for files of dead processes failed" }
        }
        if (removed > 0) log.info { "removed $removed shared-memory file(s) left by dead Strata processes" }
        return removed
    }

    /** Whether a live process holds [owner]'s lock (true also when it cannot be checked: never delete on doubt). */
    private fun lockHeld(owner: Path): Boolean = try {
        FileChannel.open(owner, StandardOpenOption.WRITE).use { ch ->
            val lock = ch.tryLock() ?: return true
            lock.release()
            false
        }
    } catch (_: OverlappingFileLockException) {
        true // this JVM holds it
    } catch (_: Exception) {
        true
    }
}

/**
 * This process's claim on its shared-memory files: `strata-<pid>-owner-<token>`, exclusively locked for
 * the life of the process (the lock, not the name, is the proof: [SegmentSweeper] removes a pid's files
 * only when it can take the lock). Created on the first [SharedMemoryFile.create]; removed at exit.
 */
internal object OwnerLock {
    const val KIND = "owner"

    @Volatile
    private var held: FileChannel? = null

    /** Creates and locks the owner file once per process. */
    fun ensure() {
        if (held != null) return
        synchronized(this) {
            if (held != null) return
            val pid = ProcessHandle.current().pid()
            val token = SharedMemoryFile.token()
            // Locked under a name the sweeper ignores (no owner file for it), then renamed: the owner file is
            // never visible unlocked. The lock belongs to the inode and survives the rename.
            val staging = SharedMemoryFile.DIRECTORY.resolve("${SharedMemoryFile.PREFIX}$pid-ownerlock-$token")
            val path = SharedMemoryFile.DIRECTORY.resolve("${SharedMemoryFile.PREFIX}$pid-$KIND-$token")
            Files.createFile(staging, SharedMemoryFile.OWNER_ONLY)
            val ch = FileChannel.open(staging, StandardOpenOption.WRITE)
            try {
                ch.lock()
                Files.move(staging, path, java.nio.file.StandardCopyOption.ATOMIC_MOVE)
            } catch (t: Throwable) {
                ch.close()
                Files.deleteIfExists(staging)
                throw t
            }
            Runtime.getRuntime().addShutdownHook(Thread({ Files.deleteIfExists(path) }, "strata-owner-cleanup"))
            held = ch
        }
    }
}
