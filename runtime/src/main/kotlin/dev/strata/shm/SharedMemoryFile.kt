package dev.strata.shm

import dev.strata.error.SharedMemoryFullException
import dev.strata.nativebind.posix.fcntl_h

import java.lang.foreign.Arena
import java.lang.foreign.MemorySegment
import java.nio.channels.FileChannel
import java.nio.file.Files
import java.nio.file.Path
import java.nio.file.Paths
import java.nio.file.StandardOpenOption
import java.nio.file.attribute.PosixFilePermissions
import java.security.SecureRandom
import java.util.HexFormat

/**
 * A file under /dev/shm mapped into this process: mode 0600, an unguessable name
 * (`strata-<pid>-<kind>-<16 random hex digits>`), unlinked by [close] when this process created it.
 * The mapping is shared: another process that maps the same file sees the same bytes.
 *
 * [close] unmaps; callers must make sure no thread still reads or writes [segment].
 */
public class SharedMemoryFile private constructor(
    public val path: Path,
    public val segment: MemorySegment,
    private val arena: Arena,
    private val owner: Boolean,
    /** The mapping belongs to the garbage collector: [close] only unlinks (views may outlive the file's name). */
    private val gcMapped: Boolean = false,
) : AutoCloseable {
    @Volatile
    private var closed = false

    /** Removes the file name; the memory stays mapped until [close]. Idempotent. */
    public fun unlink() {
        Files.deleteIfExists(path)
    }

    override fun close() {
        if (closed) return
        closed = true
        try {
            if (owner) unlink()
        } finally {
            owned.remove(path)
            if (!gcMapped) arena.close()
        }
    }

    override fun toString(): String = "SharedMemoryFile($path, ${segment.byteSize()} B)"

    public companion object {
        /** Where segments live: /dev/shm when present (tmpfs), else the JVM's temporary directory. */
        public val DIRECTORY: Path = Paths.get("/dev/shm").takeIf { Files.isDirectory(it) && Files.isWritable(it) }
            ?: Paths.get(System.getProperty("java.io.tmpdir"))

        /** Prefix of every file Strata creates there (the leak sweep and the tests look for it). */
        public const val PREFIX: String = "strata-"

        private val random = SecureRandom()
        internal val OWNER_ONLY = PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rw-------"))

        /** Files this process created and has not closed: a shutdown hook unlinks them if the JVM exits first. */
        private val owned = java.util.concurrent.ConcurrentHashMap.newKeySet<Path>()

        init {
            Runtime.getRuntime().addShutdownHook(Thread({ owned.forEach { Files.deleteIfExists(it) } }, "strata-shm-cleanup"))
        }

        /**
         * Creates and maps a new zero-filled file of [bytes] bytes; [kind] (e.g. `mailbox`) goes in its name.
         * With [gcMapped] the mapping is released by the garbage collector once unreachable, and [close]
         * only removes the name (for memory that views handed out may still use).
         */
        public fun create(bytes: Long, kind: String, gcMapped: Boolean = false): SharedMemoryFile {
            require(bytes > 0) { "size must be > 0, was $bytes" }
            require(kind.matches(Regex("[a-z0-9]+"))) { "kind must be lowercase letters and digits, was '$kind'" }
            OwnerLock.ensure() // before the first file: the sweeper removes a pid's files only once this lock is free
            val path = DIRECTORY.resolve("$PREFIX${ProcessHandle.current().pid()}-$kind-${token()}")
            Files.createFile(path, OWNER_ONLY)
            owned.add(path)
            try {
                reserve(path, bytes, kind)
                return map(path, bytes, owner = true, gcMapped = gcMapped)
            } catch (t: Throwable) {
                owned.remove(path)
                Files.deleteIfExists(path)
                throw t
            }
        }

        /**
         * Allocates the file's [bytes] now (`posix_fallocate`), so that running out of shared memory is this
         * typed error at creation and never a fault on a later write (a sparse file on a full tmpfs kills
         * the JVM that touches it: issue 13 §11).
         */
        private fun reserve(path: Path, bytes: Long, kind: String) {
            val rc = fcntl_h.reserve(path.toString(), bytes)
            if (rc == 0) return
            val store = runCatching { Files.getFileStore(DIRECTORY) }.getOrNull()
            val free = store?.let { runCatching { it.usableSpace }.getOrNull() } ?: -1L
            val total = store?.let { runCatching { it.totalSpace }.getOrNull() } ?: -1L
            if (rc == fcntl_h.ENOSPC) throw SharedMemoryFullException(DIRECTORY.toString(), kind, bytes, free, total)
            throw java.io.IOException(
                if (rc < 0) "cannot open $path to reserve $bytes B: errno ${-1 - rc}" else "posix_fallocate of $bytes B for $path failed: error $rc",
            )
        }

        /** 16 random hex digits: the unguessable part of a segment's name. */
        internal fun token(): String = HexFormat.of().formatHex(ByteArray(8).also { random.nextBytes(it) })

        /** Maps an existing file created by another process (or this one); does not unlink it on close. */
        public fun open(path: Path): SharedMemoryFile = map(path, Files.size(path), owner = false, gcMapped = false)

        private fun map(path: Path, bytes: Long, owner: Boolean, gcMapped: Boolean): SharedMemoryFile {
            val arena = if (gcMapped) Arena.ofAuto() else Arena.ofShared()
            try {
                FileChannel.open(path, StandardOpenOption.READ, StandardOpenOption.WRITE).use { ch ->
                    val segment = ch.map(FileChannel.MapMode.READ_WRITE, 0, bytes, arena)
                    return SharedMemoryFile(path, segment, arena, owner, gcMapped)
                }
            } catch (t: Throwable) {
                if (!gcMapped) arena.close()
                throw t
            }
        }
    }
}
