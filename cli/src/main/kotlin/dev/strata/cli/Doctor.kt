package dev.strata.cli

import dev.strata.nativebind.acl.AclLibrary
import dev.strata.nativebind.acl.AclProbe
import dev.strata.nativebind.posix.unistd_h
import java.lang.management.ManagementFactory
import java.nio.file.Files
import java.nio.file.Path
import kotlin.io.path.Path
import kotlin.io.path.deleteIfExists
import kotlin.io.path.isDirectory
import kotlin.io.path.isRegularFile
import kotlin.io.path.name
import kotlin.streams.asSequence

/** The outcome of one doctor check. Only [FAIL] makes `strata doctor` exit non-zero. */
public enum class CheckStatus {
    /** A required capability is present. */
    OK,

    /** A fact about the machine, or an optional capability that is absent. */
    INFO,

    /** Works, but not as well as it should (the detail says what to change). */
    WARN,

    /** A required capability is missing: Strata will not work until it is fixed. */
    FAIL,
}

/** One line of the doctor's report: what was checked, its [status], and what was found (and the fix). */
public data class Check(val name: String, val status: CheckStatus, val detail: String)

/**
 * Checks what Strata needs from this machine: a JDK >= [minJdk], Linux, a writable [shm], working FFM
 * native calls, and which chip drivers can be used (`sim` always; `acl` when a `libascendcl.so` found in
 * [libraryPath] or under [ascendRoot] loads and answers `aclInit`). Side effects: creates and deletes one
 * file in [shm]; loads that library into this JVM and initialises it.
 */
public class Doctor(
    private val shm: Path = Path("/dev/shm"),
    private val libraryPath: String? = System.getenv("LD_LIBRARY_PATH"),
    private val ascendRoot: Path = Path("/usr/local/Ascend"),
    /** Where the `acl` driver itself would load the runtime from (`-Dstrata.ascend.home`, `ASCEND_HOME_PATH`, …), checked first. */
    private val aclSearch: () -> Path? = { AclLibrary.locate().orElse(null) },
    private val minJdk: Int = 22,
) {
    /** Runs every check, in report order. Never throws: a check that breaks reports FAIL. */
    public fun checks(): List<Check> = listOf(
        guarded("JDK", ::jdk),
        guarded("OS", ::os),
        guarded("cores") { Check("cores", CheckStatus.INFO, "${Runtime.getRuntime().availableProcessors()} available to the JVM") },
        guarded("memory", ::memory),
        guarded(shm.toString(), ::sharedMemory),
        guarded("FFM", ::ffm),
        Check("chip sim", CheckStatus.OK, "available (embedded, pure JVM)"),
        guarded("chip acl", ::acl),
    )

    private fun guarded(name: String, check: () -> Check): Check = try {
        check()
    } catch (e: Throwable) {
        Check(name, CheckStatus.FAIL, "the check itself failed: ${e::class.qualifiedName}: ${e.message}")
    }

    private fun jdk(): Check {
        val feature = Runtime.version().feature()
        val detail = "${System.getProperty("java.runtime.version")} (${System.getProperty("java.vendor")}) at " +
            System.getProperty("java.home")
        return if (feature >= minJdk) Check("JDK", CheckStatus.OK, "$detail; needs >= $minJdk")
        else Check(
            "JDK", CheckStatus.FAIL,
            "$detail is Java $feature; Strata needs >= $minJdk (the FFM API). Install a JDK 25 (e.g. Temurin) and set JAVA_HOME",
        )
    }

    private fun os(): Check {
        val name = System.getProperty("os.name")
        val detail = "$name ${System.getProperty("os.version")} (${System.getProperty("os.arch")})"
        return if (name == "Linux") Check("OS", CheckStatus.OK, detail)
        else Check("OS", CheckStatus.WARN, "$detail; process-isolated workers need Linux (futex, /dev/shm)")
    }

    private fun memory(): Check {
        val os = ManagementFactory.getOperatingSystemMXBean() as? com.sun.management.OperatingSystemMXBean
        val machine = os?.let { "${gib(it.totalMemorySize)} total, ${gib(it.freeMemorySize)} free; " } ?: ""
        return Check("memory", CheckStatus.INFO, "${machine}JVM max heap ${gib(Runtime.getRuntime().maxMemory())}")
    }

    private fun sharedMemory(): Check {
        val name = shm.toString()
        if (!shm.isDirectory()) {
            return Check(name, CheckStatus.FAIL, "missing: host buffers shared with child processes live there; mount a tmpfs on $name")
        }
        val writable = try {
            Files.createTempFile(shm, "strata-doctor-", ".tmp").deleteIfExists()
            true
        } catch (_: Exception) {
            false
        }
        val free = Files.getFileStore(shm).usableSpace
        return when {
            !writable -> Check(name, CheckStatus.FAIL, "exists but is not writable by this user; fix its permissions (mode 1777)")
            free < MIN_SHM_BYTES -> Check(
                name, CheckStatus.WARN,
                "exists, writable, only ${mib(free)} free; large shared buffers will fail (containers: --shm-size=1g)",
            )
            else -> Check(name, CheckStatus.OK, "exists, writable, ${gib(free)} free")
        }
    }

    private fun ffm(): Check {
        val pid = try {
            unistd_h.getpid()
        } catch (e: Throwable) {
            return Check(
                "FFM", CheckStatus.FAIL,
                "calling getpid() through FFM failed (${e::class.simpleName}: ${e.message}); run java with --enable-native-access=ALL-UNNAMED",
            )
        }
        val jvmPid = ProcessHandle.current().pid()
        if (pid.toLong() != jvmPid) {
            return Check("FFM", CheckStatus.FAIL, "getpid() returned $pid but the JVM's pid is $jvmPid: the bindings are broken")
        }
        return if (unistd_h::class.java.module.isNativeAccessEnabled) {
            Check("FFM", CheckStatus.OK, "native access works: getpid() = $pid")
        } else {
            Check(
                "FFM", CheckStatus.WARN,
                "getpid() = $pid works, but native access is not enabled, so the JVM warns (and later JDKs refuse); " +
                    "run java with --enable-native-access=ALL-UNNAMED",
            )
        }
    }

    /**
     * Finding a file is not enough (issue 14: an empty file named libascendcl.so passed): the library is
     * loaded, `aclInit` called, and the device count, SoC name and runtime version read ([AclProbe]); any
     * step that fails is reported with its reason (load error, missing symbol, error code and text).
     */
    private fun acl(): Check {
        val found = findAscendCl()
        if (found != null) {
            val probe = AclProbe.of(found)
            return if (probe.ok) {
                Check(
                    "chip acl", CheckStatus.OK,
                    "$found: ${probe.deviceCount} device(s), SoC ${probe.socName}, ACL ${probe.version}",
                )
            } else {
                Check("chip acl", CheckStatus.WARN, "$found is not a working ACL runtime: ${probe.problem}")
            }
        }
        return Check(
            "chip acl", CheckStatus.INFO,
            "not found (optional): no $ACL_LIBRARY in LD_LIBRARY_PATH or under $ascendRoot; install the CANN toolkit for Ascend chips",
        )
    }

    /** The library the driver would load ([aclSearch]), else the first `libascendcl.so` in [libraryPath]'s directories, then anywhere shallow under [ascendRoot]. */
    private fun findAscendCl(): Path? {
        aclSearch()?.let { return it }
        libraryPath.orEmpty().split(':').filter { it.isNotBlank() }.forEach { dir ->
            val candidate = Path(dir).resolve(ACL_LIBRARY)
            if (candidate.isRegularFile()) return candidate
        }
        if (!ascendRoot.isDirectory()) return null
        return try {
            Files.find(ascendRoot, ASCEND_SEARCH_DEPTH, { p, attrs -> p.name == ACL_LIBRARY && !attrs.isDirectory }).use { s ->
                s.asSequence().firstOrNull()
            }
        } catch (_: Exception) {
            null // an unreadable directory under the root: report "not found" rather than fail the doctor
        }
    }

    private companion object {
        const val ACL_LIBRARY = "libascendcl.so"

        /** `/usr/local/Ascend/ascend-toolkit/latest/<arch>-linux/lib64/libascendcl.so` is 5 levels down. */
        const val ASCEND_SEARCH_DEPTH = 7
        const val MIN_SHM_BYTES = 64L shl 20

        fun gib(bytes: Long): String = "%.1f GiB".format(bytes / (1L shl 30).toDouble())
        fun mib(bytes: Long): String = "%.0f MiB".format(bytes / (1L shl 20).toDouble())
    }
}
