package dev.strata.shm

import io.kotest.core.spec.style.FunSpec
import io.kotest.engine.spec.tempdir
import io.kotest.matchers.shouldBe
import java.nio.file.Files
import java.nio.file.attribute.PosixFilePermissions

/** Caches that hold code are the owner's alone, whatever the umask (issue 13 §19). */
class OwnerOnlySpec : FunSpec({
    test("missing directories are created 0700, each of them; temp files are 0600") {
        val root = tempdir("owner-only").toPath()
        val leaf = root.resolve("a/b/c")
        OwnerOnly.directory(leaf) shouldBe leaf.toAbsolutePath()
        for (d in listOf("a", "a/b", "a/b/c")) OwnerOnly.mode(root.resolve(d)) shouldBe "rwx------"
        val f = OwnerOnly.tempFile(leaf, "x", ".part")
        OwnerOnly.mode(f) shouldBe "rw-------"
    }

    test("an existing directory of ours that others may write is narrowed to 0700") {
        val dir = tempdir("owner-only-open").toPath()
        Files.setPosixFilePermissions(dir, PosixFilePermissions.fromString("rwxrwxrwx")) // what umask 000 gives
        OwnerOnly.directory(dir)
        OwnerOnly.mode(dir) shouldBe "rwx------"
    }

    test("a path that is a file, not a directory, is refused naming it") {
        val file = Files.createTempFile("owner-only", ".txt")
        try {
            val e = runCatching { OwnerOnly.directory(file) }.exceptionOrNull()
            (e is java.io.IOException) shouldBe true
            e!!.message!!.contains(file.toString()) shouldBe true
        } finally {
            Files.delete(file)
        }
    }
})
