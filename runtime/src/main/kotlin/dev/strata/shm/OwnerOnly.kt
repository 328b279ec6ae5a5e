package dev.strata.shm

import java.io.IOException
import java.nio.file.Files
import java.nio.file.LinkOption
import java.nio.file.Path
import java.nio.file.attribute.PosixFilePermissions

/**
 * Files that only their owner may touch: the caches whose contents a later run loads as code (compiled
 * scripts, child JVMs' class-data archives). Created with explicit modes — directories 0700, files 0600 —
 * whatever the process umask, so another local user can neither read nor swap them (issue 13 §19).
 */
public object OwnerOnly {
    private val DIR = PosixFilePermissions.fromString("rwx------")
    private val FILE = PosixFilePermissions.fromString("rw-------")

    /**
     * Creates [dir] and each missing parent with mode 0700 and returns it. An existing [dir] must belong to
     * this user (its mode is then narrowed to 0700); otherwise throws [IOException] naming it and its owner.
     */
    public fun directory(dir: Path): Path {
        val abs = dir.toAbsolutePath().normalize()
        val missing = ArrayDeque<Path>()
        var p: Path? = abs
        while (p != null && !Files.exists(p, LinkOption.NOFOLLOW_LINKS)) {
            missing.addFirst(p)
            p = p.parent
        }
        for (m in missing) {
            try {
                Files.createDirectory(m, PosixFilePermissions.asFileAttribute(DIR))
            } catch (_: java.nio.file.FileAlreadyExistsException) {
                // created concurrently (another run): checked below like any existing directory
            }
            Files.setPosixFilePermissions(m, DIR) // the umask may have narrowed the mode further; make it exact
        }
        if (!Files.isDirectory(abs, LinkOption.NOFOLLOW_LINKS)) throw IOException("$abs is not a directory (or is a symbolic link)")
        val owner = Files.getOwner(abs, LinkOption.NOFOLLOW_LINKS)
        if (owner.name != System.getProperty("user.name")) {
            throw IOException("$abs belongs to ${owner.name}, not to ${System.getProperty("user.name")}; refusing to load code from it")
        }
        if (Files.getPosixFilePermissions(abs, LinkOption.NOFOLLOW_LINKS) != DIR) Files.setPosixFilePermissions(abs, DIR)
        return abs
    }

    /** A new empty file with mode 0600 in [dir] (which [directory] prepared), named `prefix…suffix`. */
    public fun tempFile(dir: Path, prefix: String, suffix: String): Path {
        val f = Files.createTempFile(dir, prefix, suffix, PosixFilePermissions.asFileAttribute(FILE))
        Files.setPosixFilePermissions(f, FILE)
        return f
    }

    /** The mode of [path] as `rwx------` text (for checks and messages). */
    public fun mode(path: Path): String = PosixFilePermissions.toString(Files.getPosixFilePermissions(path, LinkOption.NOFOLLOW_LINKS))
}
