package dev.strata.process

import dev.strata.shm.OwnerOnly

import arrow.core.Either
import dev.strata.nativebind.posix.unistd_h
import io.github.oshai.kotlinlogging.KotlinLogging
import kotlinx.coroutines.Job
import kotlinx.serialization.KSerializer
import kotlinx.serialization.json.Json
import org.slf4j.LoggerFactory
import java.io.File
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
    /**
     * The child JVM's entry point, named on its command line. It lives in the top package (`child`: it
     * builds a whole worker), so this package names it as the launcher must: by its class name. A test
     * holds the name to the class.
     */
    const val CHILD_MAIN = "dev.strata.child.ChildMain"

    private val launcher: ExecutorService = Executors.newSingleThreadExecutor { r ->
        Thread(r, "strata-launcher").apply { isDaemon = true }
    }

    /**
     * Options every child gets: quick to start, quiet when idle, silent on stdout. A serial collector (no GC
     * threads to wake), no perf-data file in /tmp, no logging start-up line, and an application class-data archive that the JDK creates on the
     * first start and maps on every later one (about halves a child's start-up; docs/performance.md).
     */
    private val BASE_OPTIONS: List<String> = listOf(
        "--enable-native-access=ALL-UNNAMED", "-XX:+UseSerialGC", "-XX:-UsePerfData", "-Xss4m",
        // A child's stdout is the parent's: kotlin-logging must not announce itself there.
        "-Dkotlin-logging.logStartupMessage=false",
    )

    /** The class-data options for each child classpath seen (one archive per classpath). */
    private val sharingByClasspath = java.util.concurrent.ConcurrentHashMap<String, List<String>>()

    /**
     * The classpath of a child JVM, path-separated:
     * - [OVERRIDE_CLASSPATH] when it is set: exactly that;
     * - otherwise this JVM's `java.class.path` and every `file:` location of the class loaders that loaded
     *   Strata (a `URLClassLoader` chain: the standard `kotlin` script runner's, an application server's, a
     *   notebook kernel's) and the code-source locations of Strata and the libraries it runs on — so a child
     *   finds `ChildMain` and its dependencies however Strata was loaded; in the order Strata resolves
     *   classes (`java.class.path` first only where Strata's loaders delegate to the application loader) —
     * - then the entries of [EXTRA_CLASSPATH] (how `strata script` hands children the jar of a compiled
     *   script, so callables declared in the script can be found there by name).
     *
     * Duplicates are dropped, order kept.
     */
    fun childClasspath(): String {
        System.getProperty(OVERRIDE_CLASSPATH)?.takeIf { it.isNotBlank() }?.let { return it }
        val entries = LinkedHashSet<String>()
        val systemPath = System.getProperty("java.class.path")?.split(File.pathSeparatorChar)?.filter { it.isNotBlank() }.orEmpty()
        // A child resolves classes in classpath order, so the order must be the one Strata resolves in: where its
        // loaders delegate to the application class loader, java.class.path comes first (parents first); where
        // they do not (the standard `kotlin` runner, whose java.class.path is the compiler's, with an older
        // kotlinx-coroutines), Strata's own loaders come first and java.class.path only fills gaps.
        if (seesSystemClasspath) { entries += systemPath; entries += loaderEntries } else { entries += loaderEntries; entries += systemPath }
        System.getProperty(EXTRA_CLASSPATH)?.split(File.pathSeparatorChar)?.filterTo(entries) { it.isNotBlank() }
        return entries.joinToString(File.pathSeparator)
    }

    /** Whether the loader that loaded Strata delegates to the application class loader (so sees java.class.path). */
    private val seesSystemClasspath: Boolean by lazy {
        val app = ClassLoader.getSystemClassLoader()
        generateSequence(ChildLauncher::class.java.classLoader) { it.parent }.any { it === app }
    }

    /**
     * Why a child JVM could not load [type] by name, or null when it can: its class file is in an entry of
     * [childClasspath]. Classes compiled in memory (a notebook cell, a REPL line, a script whose host keeps
     * its compiled classes in memory) exist only in this JVM; so do classes from locations a child is not given.
     * Computed once per class.
     */
    fun unreachableInChild(type: Class<*>): String? = reachability.get(type).ifEmpty { null }

    private val reachability = object : ClassValue<String>() {
        override fun computeValue(type: Class<*>): String {
            val cp = childClasspath()
            // A classpath without Strata itself fails the worker's start, with an error that says so: that comes first.
            if (missingFromClasspath(cp) != null) return ""
            val entries = withManifestPaths(cp.split(File.pathSeparatorChar).filter { it.isNotBlank() }.map(::File))
            val location = runCatching { type.protectionDomain?.codeSource?.location }.getOrNull()?.let(::fileOf)
            if (location != null && canonical(File(location)) in entries) return ""
            val resource = type.name.replace('.', '/') + ".class"
            if (entries.any { holds(File(it), resource) }) return ""
            val where = if (location == null) "it was compiled in memory (a notebook cell, a REPL line or a script whose host " +
                "keeps compiled classes in memory), so it exists only in this JVM" else "its location $location is not on the child classpath"
            return "a child JVM loads callables by class name from its classpath, and $where. Give this child kind " +
                "Isolation.THREAD, move the callable into a jar (or run the script with `strata script`, which saves it " +
                "to one), or name its location with -D$EXTRA_CLASSPATH=<jar or class directory>"
        }
    }

    /**
     * The canonical paths of classpath [entries] and of what their jars' manifests add (`Class-Path`,
     * followed transitively): how Surefire's manifest-only jar, for one, names the real classpath.
     */
    private fun withManifestPaths(entries: List<File>): Set<String> {
        val seen = LinkedHashSet<String>()
        val queue = ArrayDeque(entries)
        while (queue.isNotEmpty()) {
            val f = queue.removeFirst()
            if (!seen.add(canonical(f)) || !f.isFile) continue
            val classPath = runCatching { java.util.jar.JarFile(f).use { it.manifest?.mainAttributes?.getValue("Class-Path") } }.getOrNull() ?: continue
            for (item in classPath.split(' ').filter { it.isNotBlank() }) {
                runCatching { f.toURI().resolve(item).toURL() }.getOrNull()?.let(::fileOf)?.let { queue += File(it) }
            }
        }
        return seen
    }

    private fun canonical(f: File): String = runCatching { f.canonicalPath }.getOrDefault(f.absolutePath)

    /** Whether classpath entry [f] (a directory or a jar) holds [resource]. */
    private fun holds(f: File, resource: String): Boolean = when {
        f.isDirectory -> File(f, resource).isFile
        f.isFile -> runCatching { java.util.jar.JarFile(f).use { it.getEntry(resource) != null } }.getOrDefault(false)
        else -> false
    }

    /** What the class loaders of Strata and of its libraries add to `java.class.path` (computed once). */
    private val loaderEntries: List<String> by lazy {
        val found = LinkedHashSet<String>()
        var loader: ClassLoader? = ChildLauncher::class.java.classLoader
        val chain = ArrayList<java.net.URLClassLoader>()
        while (loader != null) {
            if (loader is java.net.URLClassLoader) chain += loader
            loader = loader.parent
        }
        for (l in chain.asReversed()) for (u in l.urLs) fileOf(u)?.let { found += it } // parents first, as they resolve
        for (c in ANCHORS) runCatching { c.protectionDomain?.codeSource?.location }.getOrNull()?.let { u -> fileOf(u)?.let { found += it } }
        found.toList()
    }

    /** Classes whose jars a child needs: Strata's runtime and the libraries it links against. */
    private val ANCHORS: List<Class<*>> = listOf(
        ChildLauncher::class.java, // strata-runtime
        OwnerOnly::class.java, // strata-runtime (shm): the same jar, unless split
        Unit::class.java, // kotlin-stdlib
        unistd_h::class.java, // strata-native-bindings
        Job::class.java, // kotlinx-coroutines
        Json::class.java, // kotlinx-serialization-json
        KSerializer::class.java, // kotlinx-serialization-core
        Either::class.java, // arrow-core
        KotlinLogging::class.java, // kotlin-logging
        LoggerFactory::class.java, // slf4j-api
    )

    private fun fileOf(u: java.net.URL): String? = if (u.protocol != "file") null else runCatching { File(u.toURI()).path }.getOrNull()

    /** System property naming extra classpath entries of child JVMs (see [childClasspath]). */
    const val EXTRA_CLASSPATH: String = "strata.child.classpath"

    /** System property that replaces a child JVM's whole classpath (see [childClasspath]). */
    const val OVERRIDE_CLASSPATH: String = "strata.child.classpath.override"

    /**
     * Why a child started with [cp] cannot run, or null: [CHILD_MAIN] is in none of its entries (a directory
     * holding the class file, or a jar holding it). Checked once per classpath, before any child starts, so
     * the error names the class and the way out instead of a child dying with "could not find main class".
     */
    fun missingFromClasspath(cp: String): String? = missingByClasspath.computeIfAbsent(cp) {
        val resource = CHILD_MAIN.replace('.', '/') + ".class"
        val found = cp.split(File.pathSeparatorChar).filter { it.isNotBlank() }.any { holds(File(it), resource) }
        if (found) "" else
            "class $CHILD_MAIN (the child JVM's entry point) is on none of the ${cp.split(File.pathSeparatorChar).count { it.isNotBlank() }} entries of the " +
                "child classpath, built from java.class.path and the class loaders that loaded Strata; set " +
                "-D$OVERRIDE_CLASSPATH=<Strata's jars and their dependencies> (or add them with -D$EXTRA_CLASSPATH), or use Isolation.THREAD"
    }.ifEmpty { null }

    private val missingByClasspath = java.util.concurrent.ConcurrentHashMap<String, String>()

    /**
     * `-XX:+AutoCreateSharedArchive` with one archive per JDK and classpath under `~/.cache/strata/cds`
     * (at most [KEEP_ARCHIVES] kept: [pruneArchives])
     * (`STRATA_CDS_DIR` or `-Dstrata.child.cds.dir` to move it, `-Dstrata.child.cds=false` to turn it off).
     * The JDK checks the archive against the classpath and rebuilds a stale one, so this is only a speed-up.
     *
     * Only for a classpath of plain jars: the JDK cannot archive classes from directories, and a JVM whose
     * archive dump fails at exit exits with status 1 whatever it asked for — which would falsify the exit
     * codes that [dev.strata.error.WorkerDiedException] reports. (Build-tool classpaths, e.g. Surefire's
     * manifest jar pointing at `target/classes`, therefore start children without an archive.)
     */
    private fun classDataSharing(cp: String): List<String> = sharingByClasspath.computeIfAbsent(cp) {
        if (System.getProperty("strata.child.cds") == "false" || !archivableClasspath(cp)) return@computeIfAbsent emptyList()
        try {
            val dir = (System.getProperty("strata.child.cds.dir") ?: System.getenv("STRATA_CDS_DIR"))?.let { Path.of(it) }
                ?: Path.of(System.getProperty("user.home"), ".cache", "strata", "cds")
            OwnerOnly.directory(dir) // 0700: the archive is code the next child maps (issue 13 §19)
            val key = buildString {
                append(System.getProperty("java.home")).append('|').append(Runtime.version()).append('|').append(cp)
                for (e in cp.split(java.io.File.pathSeparatorChar)) {
                    val f = java.io.File(e)
                    append('|').append(f.length()).append(':').append(f.lastModified())
                }
            }
            val hash = java.security.MessageDigest.getInstance("SHA-256").digest(key.toByteArray())
                .take(8).joinToString("") { "%02x".format(it) }
            pruneArchives(dir, dir.resolve("child-$hash.jsa"))
            // The JDK reports harmless archive notes (classes it skips, a flag it cannot optimise for) on
            // stderr at every start; they are not errors of the child, so they are silenced.
            listOf("-XX:+AutoCreateSharedArchive", "-XX:SharedArchiveFile=${dir.resolve("child-$hash.jsa")}", "-Xlog:cds=off", "-Xlog:cds+dynamic=off", "-Xlog:aot=off")
        } catch (_: Exception) {
            emptyList()
        }
    }

    /**
     * Keeps the archive cache bounded: every rebuild of the jars or new JDK keys a new archive (about 9 MB),
     * so beyond [KEEP_ARCHIVES] archives the least recently written others go ([keep], this classpath's,
     * stays). Deleting an archive another JVM maps is harmless (the mapping outlives the name), and a JVM
     * whose archive went creates it afresh. Best effort: a failure leaves the files.
     */
    internal fun pruneArchives(dir: Path, keep: Path, max: Int = KEEP_ARCHIVES) {
        try {
            val others = java.nio.file.Files.list(dir).use { files ->
                files.filter { f -> f.fileName.toString().let { it.startsWith("child-") && it.endsWith(".jsa") } && f != keep }.toList()
            }
            if (others.size < max) return
            others.sortedByDescending { java.nio.file.Files.getLastModifiedTime(it) }.drop(max - 1)
                .forEach { runCatching { java.nio.file.Files.deleteIfExists(it) } }
        } catch (_: Exception) {
            // a cache, nothing more
        }
    }

    /** Archives kept in the cache directory, this classpath's included. */
    const val KEEP_ARCHIVES = 8

    /** Plain jars only, whose manifest `Class-Path` (a compiled script's names the CLI jar) names plain jars too. */
    private fun archivableClasspath(cp: String): Boolean = try {
        cp.split(java.io.File.pathSeparatorChar).all { e -> plainJar(java.io.File(e), depth = 0) }
    } catch (_: Exception) {
        false
    }

    private fun plainJar(f: java.io.File, depth: Int): Boolean {
        if (!f.isFile || !f.name.endsWith(".jar")) return false
        val refs = java.util.jar.JarFile(f).use { it.manifest?.mainAttributes?.getValue("Class-Path") } ?: return true
        if (depth > 0) return false
        return refs.split(' ').filter { it.isNotBlank() }.all { ref ->
            val uri = f.toURI().resolve(ref)
            uri.scheme == "file" && plainJar(java.io.File(uri), depth + 1)
        }
    }

    val javaExecutable: String =
        Path.of(System.getProperty("java.home"), "bin", "java").toString()

    fun command(spec: ChildSpec, extraOptions: List<String>): List<String> = buildList {
        val cp = childClasspath()
        add(javaExecutable)
        addAll(BASE_OPTIONS)
        addAll(classDataSharing(cp))
        addAll(extraOptions)
        add("-cp")
        add(cp)
        add(CHILD_MAIN)
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
