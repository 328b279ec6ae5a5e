package dev.strata.cli

import io.kotest.core.spec.style.FunSpec
import io.kotest.core.test.Enabled
import io.kotest.engine.spec.tempdir
import io.kotest.matchers.collections.shouldNotContain
import io.kotest.matchers.shouldBe
import io.kotest.matchers.string.shouldContain
import io.kotest.matchers.string.shouldStartWith
import java.nio.file.Files
import java.nio.file.Path
import kotlin.io.path.Path
import kotlin.io.path.createDirectories
import kotlin.io.path.createFile

/** The emulator's library, built by native-bindings (the Maven build runs cli's tests from cli/). */
private val EMULATOR: Path = Path("../native-bindings/target/ascend-emu/lib64/libascendcl.so").toAbsolutePath().normalize()

class DoctorSpec : FunSpec({
    fun Doctor.check(name: String): Check = checks().single { it.name == name }

    test("every check of this machine passes or informs; none fails") {
        Doctor().checks().map { it.status } shouldNotContain CheckStatus.FAIL
    }

    test("the JDK check names version, vendor and home") {
        val jdk = Doctor().check("JDK")
        jdk.status shouldBe CheckStatus.OK
        jdk.detail shouldContain System.getProperty("java.vendor")
        jdk.detail shouldContain System.getProperty("java.home")
    }

    test("a JDK below the minimum fails") {
        Doctor(minJdk = Runtime.version().feature() + 1).check("JDK").status shouldBe CheckStatus.FAIL
    }

    test("a missing shared-memory directory fails and says what to mount") {
        val missing = Path("/nonexistent-strata-shm")
        val c = Doctor(shm = missing).check(missing.toString())
        c.status shouldBe CheckStatus.FAIL
        c.detail shouldContain "tmpfs"
    }

    test("a writable shared-memory directory is OK and left empty") {
        val dir = tempdir().toPath()
        Doctor(shm = dir).check(dir.toString()).detail shouldStartWith "exists, writable"
        Files.list(dir).use { it.count() } shouldBe 0L
    }

    test("a file named libascendcl.so that is not a working ACL runtime is found but not OK: the load error is named (issue 14)") {
        val lib = tempdir().toPath()
        lib.resolve("libascendcl.so").createFile() // empty: what the old doctor called OK
        val c = Doctor(libraryPath = "/nonexistent:$lib", ascendRoot = Path("/nonexistent"), aclSearch = { null }).check("chip acl")
        c.status shouldBe CheckStatus.WARN
        c.detail shouldContain lib.toString()
        c.detail shouldContain "is not a working ACL runtime: it cannot be loaded"
    }

    test("the ACL runtime under the Ascend install root is loaded and asked: devices, SoC, version (the emulator here)")
        .config(enabledOrReasonIf = { if (Files.isRegularFile(EMULATOR)) Enabled.enabled else Enabled.disabled("the ACL emulator is not built at $EMULATOR (gcc missing?)") }) {
            val root = tempdir().toPath()
            val lib64 = root.resolve("ascend-toolkit/latest/x86_64-linux/lib64").createDirectories()
            Files.copy(EMULATOR, lib64.resolve("libascendcl.so"))
            val c = Doctor(libraryPath = null, ascendRoot = root, aclSearch = { null }).check("chip acl")
            c.status shouldBe CheckStatus.OK
            c.detail shouldContain "8 device(s), SoC EMU"
            c.detail shouldContain "ACL 1.16.0"
        }

    test("the runtime the acl driver would load (ASCEND_HOME_PATH, -Dstrata.ascend.home) is the one the doctor checks first")
        .config(enabledOrReasonIf = { if (Files.isRegularFile(EMULATOR)) Enabled.enabled else Enabled.disabled("the ACL emulator is not built at $EMULATOR (gcc missing?)") }) {
            val c = Doctor(libraryPath = "", ascendRoot = Path("/nonexistent"), aclSearch = { EMULATOR }).check("chip acl")
            c.status shouldBe CheckStatus.OK
            c.detail shouldContain EMULATOR.toString()
        }

    test("acl not found is information, not a failure") {
        val c = Doctor(libraryPath = "", ascendRoot = Path("/nonexistent"), aclSearch = { null }).check("chip acl")
        c.status shouldBe CheckStatus.INFO
        c.detail shouldContain "not found"
    }
})
