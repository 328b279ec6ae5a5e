package dev.strata.shm

import io.github.oshai.kotlinlogging.KotlinLogging
import java.nio.file.Files

private val log = KotlinLogging.logger {}

/**
 * Removes shared-memory files left by Strata processes that died without cleaning up (killed, crashed):
 * every `strata-<pid>-…` file whose pid is no longer a live process. Run when a worker starts child
 * processes. A pid reused by an unrelated live process keeps its files until that process is gone.
 */
internal object SegmentSweeper {
    private val NAME = Regex("""${SharedMemoryFile.PREFIX}(\d+)-.*""")

    /** Deletes the orphans; returns how many were removed. Never throws. */
    fun sweep(): Int {
        val self = ProcessHandle.current().pid()
        var removed = 0
        try {
            Files.list(SharedMemoryFile.DIRECTORY).use { files ->
                for (f in files) {
                    val pid = NAME.matchEntire(f.fileName.toString())?.groupValues?.get(1)?.toLongOrNull() ?: continue
                    if (pid == self || ProcessHandle.of(pid).isPresent) continue
                    if (Files.deleteIfExists(f)) removed++
                }
            }
        } catch (e: Exception) {
            log.warn(e) { "sweeping ${SharedMemoryFile.DIRECTORY} for files of dead processes failed" }
        }
        if (removed > 0) log.info { "removed $removed shared-memory file(s) left by dead Strata processes" }
        return removed
    }
}
