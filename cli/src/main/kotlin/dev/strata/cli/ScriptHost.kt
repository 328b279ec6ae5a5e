package dev.strata.cli

import kotlinx.coroutines.runBlocking
import org.jetbrains.kotlin.mainKts.MainKtsScript
import java.io.File
import java.io.PrintStream
import java.nio.file.Files
import dev.strata.cli.notebook.KotlinRepl
import dev.strata.shm.OwnerOnly
import java.nio.file.StandardCopyOption
import java.security.MessageDigest
import kotlin.script.experimental.api.CompiledScript
import kotlin.script.experimental.api.ResultValue
import kotlin.script.experimental.api.ResultWithDiagnostics
import kotlin.script.experimental.api.ScriptDiagnostic
import kotlin.script.experimental.api.constructorArgs
import kotlin.script.experimental.host.toScriptSource
import kotlin.script.experimental.jvm.baseClassLoader
import kotlin.script.experimental.jvm.jvmTarget
import kotlin.script.experimental.jvm.updateClasspath
import kotlin.script.experimental.jvm.impl.KJvmCompiledScript
import kotlin.script.experimental.jvm.jvm
import kotlin.script.experimental.jvm.BasicJvmScriptEvaluator
import kotlin.script.experimental.jvmhost.JvmScriptCompiler
import kotlin.script.experimental.jvmhost.createJvmCompilationConfigurationFromTemplate
import kotlin.script.experimental.jvmhost.createJvmEvaluationConfigurationFromTemplate
import kotlin.script.experimental.jvmhost.loadScriptFromJar
import kotlin.script.experimental.jvmhost.saveToJar

/**
 * Runs Kotlin scripts (`*.main.kts`) with Strata on the classpath: an embedded Kotlin scripting host
 * using the standard `main.kts` script definition, so a script that runs here is an ordinary `main.kts`
 * script (`args` are its arguments; `@file:Import` and `@file:DependsOn` are the definition's own, not
 * exercised by Strata's tests).
 *
 * A compiled script is kept as a jar in [cacheDir] (keyed by the script's text and this classpath), so
 * only the first run of a script pays for the compiler (a few seconds). The jar is also added to the
 * classpath of the child JVMs that workers start while the script runs (`strata.child.classpath`), so
 * callables declared in the script (`object`s, classes with a no-arg constructor) work with
 * `Isolation.PROCESS` as well.
 */
internal class ScriptHost(
    private val cacheDir: File = defaultCacheDir(),
    private val loader: ClassLoader = ScriptHost::class.java.classLoader,
) {
    /** How a script ended. */
    sealed interface Outcome {
        /** It ran to its end. */
        data object Completed : Outcome

        /** It did not compile (or its file annotations failed); [diagnostics] are the errors, one per line. */
        data class CompileFailed(val diagnostics: List<String>) : Outcome

        /** It threw [error] while running. */
        data class Threw(val error: Throwable) : Outcome
    }

    /**
     * Compiles [script] (or takes it from the cache) and runs it with [args], its `System.out` pointed at
     * [out] while it runs (when that is not the process's own). A script's own failure is the [Outcome],
     * never an exception of this method.
     */
    fun run(script: File, args: List<String>, out: PrintStream): Outcome {
        // The main.kts definition looks for its own jars by name on the classpath; inside the CLI's single
        // jar there are none, so name the whole classpath (which holds Strata, the stdlib and main-kts).
        val classpath = compileClasspath()
        if (System.getProperty(CLASSPATH_PROPERTY) == null) System.setProperty(CLASSPATH_PROPERTY, classpath.joinToString(File.pathSeparator))
        // This host keeps its own cache (whose jar it must know, for child JVMs); a blank directory turns
        // main.kts's cache off.
        System.setProperty(MAIN_KTS_CACHE_PROPERTY, "")
        val compiled = when (val c = compile(script, classpath)) {
            is ResultWithDiagnostics.Success -> c.value
            is ResultWithDiagnostics.Failure -> return Outcome.CompileFailed(c.reports.errors(script).ifEmpty { listOf("${script.path}: does not compile") })
        }
        val evaluation = createJvmEvaluationConfigurationFromTemplate<MainKtsScript> {
            constructorArgs(args.toTypedArray())
            jvm { baseClassLoader(loader) }
        }
        val savedOut = System.out
        val savedChildClasspath = System.getProperty(CHILD_CLASSPATH_PROPERTY)
        if (out !== savedOut) System.setOut(out)
        System.setProperty(CHILD_CLASSPATH_PROPERTY, listOfNotNull(compiled.jar.path, savedChildClasspath).joinToString(File.pathSeparator))
        val result = try {
            runBlocking { BasicJvmScriptEvaluator()(compiled.script, evaluation) }
        } finally {
            out.flush()
            if (out !== savedOut) System.setOut(savedOut)
            if (savedChildClasspath == null) System.clearProperty(CHILD_CLASSPATH_PROPERTY) else System.setProperty(CHILD_CLASSPATH_PROPERTY, savedChildClasspath)
        }
        return when (result) {
            is ResultWithDiagnostics.Failure -> result.reports.firstNotNullOfOrNull { it.exception }?.let { Outcome.Threw(it) }
                ?: Outcome.CompileFailed(result.reports.errors(script).ifEmpty { listOf("${script.path}: did not run") })
            is ResultWithDiagnostics.Success -> when (val value = result.value.returnValue) {
                is ResultValue.Error -> Outcome.Threw(value.error)
                else -> Outcome.Completed
            }
        }
    }

    /** A compiled script and the jar holding its classes. */
    private class Compiled(val script: CompiledScript, val jar: File)

    private fun compile(script: File, classpath: List<String>): ResultWithDiagnostics<Compiled> {
        val compilation = createJvmCompilationConfigurationFromTemplate<MainKtsScript> {
            jvm {
                updateClasspath(classpath.map(::File))
                // Strata's inline functions are JVM 25 bytecode, which a script can inline only at the same target.
                jvmTarget(KotlinRepl.JVM_TARGET)
            }
        }
        val text = script.readText()
        val jar = File(cacheDir, "${script.name.removeSuffix(".kts").replace('.', '_')}-${cacheKey(text, classpath)}.jar")
        // A cached jar is loaded only from our own 0700 directory and only if it is ours alone (0600).
        OwnerOnly.directory(cacheDir.toPath())
        if (jar.isFile && OwnerOnly.mode(jar.toPath()) == "rw-------") {
            runCatching { jar.loadScriptFromJar() }.getOrNull()?.let { return ResultWithDiagnostics.Success(Compiled(it, jar)) }
        }
        val result = runBlocking { JvmScriptCompiler()(script.toScriptSource(), compilation) }
        if (result !is ResultWithDiagnostics.Success) return ResultWithDiagnostics.Failure(result.reports)
        val compiled = result.value as KJvmCompiledScript
        // 0700 directories and a 0600 jar whatever the umask: the jar is code a later run loads (issue 13 §19).
        OwnerOnly.directory(cacheDir.toPath())
        // Written aside, then moved: a concurrent run of the same script never sees half a jar.
        val partial = OwnerOnly.tempFile(cacheDir.toPath(), jar.nameWithoutExtension, ".part").toFile()
        try {
            compiled.saveToJar(partial)
            Files.move(partial.toPath(), jar.toPath(), StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE)
        } finally {
            partial.delete()
        }
        return ResultWithDiagnostics.Success(Compiled(compiled, jar), result.reports)
    }


    /** What a compiled script depends on: its text, the classpath (entries, sizes, times) and the JDK. */
    private fun cacheKey(text: String, cp: List<String>): String {
        val key = buildString {
            append(CACHE_VERSION).append('|').append(Runtime.version()).append('|').append(KotlinVersion.CURRENT)
            for (e in cp) File(e).let { append('|').append(e).append(':').append(it.length()).append(':').append(it.lastModified()) }
            append('|').append(text)
        }
        return MessageDigest.getInstance("SHA-256").digest(key.toByteArray()).take(10).joinToString("") { "%02x".format(it) }
    }

    private fun List<ScriptDiagnostic>.errors(script: File): List<String> =
        filter { it.severity >= ScriptDiagnostic.Severity.ERROR }.map { d ->
            val where = d.location?.start?.let { "${d.sourcePath ?: script.path}:${it.line}:${it.col}" } ?: (d.sourcePath ?: script.path)
            "$where: ${d.message}" + (d.exception?.let { " (${it::class.java.name}: ${it.message})" } ?: "")
        }

    companion object {
        private const val CLASSPATH_PROPERTY = "kotlin.script.classpath"
        private const val MAIN_KTS_CACHE_PROPERTY = "kotlin.main.kts.compiled.scripts.cache.dir"
        private const val CHILD_CLASSPATH_PROPERTY = "strata.child.classpath"
        private const val CACHE_VERSION = 1

        /** `-Dstrata.script.cache.dir`, else `STRATA_SCRIPT_CACHE_DIR`, else `~/.cache/strata/scripts`. */
        fun defaultCacheDir(): File = (System.getProperty("strata.script.cache.dir") ?: System.getenv("STRATA_SCRIPT_CACHE_DIR"))?.let(::File)
            ?: File(System.getProperty("user.home"), ".cache/strata/scripts")
    }
}

/**
 * This JVM's classpath, with the jars that a manifest `Class-Path` adds (a test runner's classpath is one
 * such jar pointing at the real entries): what scripts, and Java compiled at run time, compile against.
 */
internal fun compileClasspath(): List<String> = System.getProperty("java.class.path").split(File.pathSeparatorChar)
    .filter { it.isNotBlank() }
    .flatMap { e ->
        val f = File(e)
        val refs = if (f.isFile && e.endsWith(".jar")) runCatching { java.util.jar.JarFile(f).use { it.manifest?.mainAttributes?.getValue("Class-Path") } }.getOrNull() else null
        listOf(e) + refs.orEmpty().split(' ').filter { it.isNotBlank() }.mapNotNull { ref ->
            runCatching { f.toURI().resolve(ref).takeIf { it.scheme == "file" }?.let { File(it).path } }.getOrNull()
        }
    }
    .distinct()
