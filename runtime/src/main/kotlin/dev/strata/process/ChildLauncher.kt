package dev.strata.process

import java.nio.file.Path
import java.util.concurrent.Callable
import java.util.concurrent.ExecutorService
import java.util.concurrent.Executors

/**
 * Starts child JVMs (DESIGN.md §8): the same `java` and classpath as this JVM, native access enabled,
 * the spec as one argument. Every child is started from one long-lived daemon thread: Linux sends a
 * child's parent-death signal when the *thread* that started it ends, so starting children from a
 * caller's thread (a test runner's, a coroutine pool's) would kill them when that thread retires.
 */
internal object ChildLauncher {
    private val launcher: ExecutorService = Executors.newSingleThreadExecutor { r ->
        Thread(r, "strata-launcher").apply { isDaemon = true }
    }

    /**
     * Options every child gets: quick to start and quiet when idle. A serial collector (no GC threads to
     * wake), no perf-data file in /tmp, and an application class-data archive that the JDK creates on the
     * first start and maps on every later one (about halves a child's start-up; docs/performance.md).
     */
    private val BASE_OPTIONS: List<String> by lazy {
        listOf("--enable-native-access=ALL-UNNAMED", "-XX:+UseSerialGC", "-XX:-UsePerfData", "-Xss4m") + classDataSharing()
    }

    /**
     * `-XX:+AutoCreateSharedArchive` with one archive per JDK and classpath under `~/.cache/strata/cds`
     * (`STRATA_CDS_DIR` or `-Dstrata.child.cds.dir` to move it, `-Dstrata.child.cds=false` to turn it off).
     * The JDK checks the archive against the classpath and rebuilds a stale one, so this is only a speed-up.
     *
     * Only for a classpath of plain jars: the JDK cannot archive classes from directories, and a JVM whose
     * archive dump fails at exit exits with status 1 whatever it asked for — which would falsify the exit
     * codes that [dev.strata.run.WorkerDiedException] reports. (Build-tool classpaths, e.g. Surefire's
     * manifest jar pointing at `target/classes`, therefore start children without an archive.)
     */
    private fun classDataSharing(): List<String> {
        if (System.getProperty("strata.child.cds") == "false") return emptyList()
        if (!archivableClasspath()) return emptyList()
        return try {
            val dir = (System.getProperty("strata.child.cds.dir") ?: System.getenv("STRATA_CDS_DIR"))?.let { Path.of(it) }
                ?: Path.of(System.getProperty("user.home"), ".cache", "strata", "cds")
            java.nio.file.Files.createDirectories(dir)
            val cp = System.getProperty("java.class.path")
            val key = buildString {
                append(System.getProperty("java.home")).append('|').append(Runtime.version()).append('|').append(cp)
                for (e in cp.split(java.io.File.pathSeparatorChar)) {
                    val f = java.io.File(e)
                    append('|').append(f.length()).append(':').append(f.lastModified())
                }
            }
            val hash = java.security.MessageDigest.getInstance("SHA-256").digest(key.toByteArray())
                .take(8).joinToString("") { "%02x".format(it) }
            // The JDK reports harmless archive notes (classes it skips, a flag it cannot optimise for) on
            // stderr at every start; they are not errors of the child, so they are silenced.
            listOf("-XX:+AutoCreateSharedArchive", "-XX:SharedArchiveFile=${dir.resolve("child-$hash.jsa")}", "-Xlog:cds=off", "-Xlog:cds+dynamic=off", "-Xlog:aot=off")
        } catch (_: Exception) {
            emptyList()
        }
    }

    private fun archivableClasspath(): Boolean = try {
        System.getProperty("java.class.path").split(java.io.File.pathSeparatorChar).all { e ->
            val f = java.io.File(e)
            f.isFile && e.endsWith(".jar") && java.util.jar.JarFile(f).use { it.manifest?.mainAttributes?.getValue("Class-Path") == null }
        }
    } catch (_: Exception) {
        false
    }

    val javaExecutable: String =
        Path.of(System.getProperty("java.home"), "bin", "java").toString()

    fun command(spec: ChildSpec, extraOptions: List<String>): List<String> = buildList {
        add(javaExecutable)
        addAll(BASE_OPTIONS)
        addAll(extraOptions)
        add("-cp")
        add(System.getProperty("java.class.path"))
        add(ChildMain::class.java.name)
        add(spec.encode())
    }

    /** Starts the child; its stdout and stderr go to this process's. */
    fun launch(spec: ChildSpec, extraOptions: List<String>): Process {
        val cmd = command(spec, extraOptions)
        return launcher.submit(
            Callable { ProcessBuilder(cmd).redirectOutput(ProcessBuilder.Redirect.INHERIT).redirectError(ProcessBuilder.Redirect.INHERIT).start() },
        ).get()
    }
}
