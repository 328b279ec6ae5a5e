package dev.strata.nativebind.posix

import io.kotest.core.spec.style.FunSpec
import io.kotest.matchers.shouldBe
import java.nio.file.Files
import java.nio.file.Path

class FcntlSpec : FunSpec({
    test("reserve allocates the bytes of an existing file; more than the file system has is ENOSPC; a missing file is -1 - errno") {
        val dir = Path.of("/dev/shm").takeIf { Files.isDirectory(it) } ?: Path.of(System.getProperty("java.io.tmpdir"))
        val f = Files.createTempFile(dir, "strata-fcntl-test", ".bin")
        try {
            fcntl_h.reserve(f.toString(), 1 shl 20) shouldBe 0
            Files.size(f) shouldBe (1L shl 20)
            fcntl_h.reserve(f.toString(), 1L shl 50) shouldBe fcntl_h.ENOSPC // 1 PiB: no machine here has it
            fcntl_h.reserve(dir.resolve("strata-fcntl-missing").toString(), 16) shouldBe -1 - 2 // ENOENT
        } finally {
            Files.deleteIfExists(f)
        }
    }
})
