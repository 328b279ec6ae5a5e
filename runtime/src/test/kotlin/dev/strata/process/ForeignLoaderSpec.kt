package dev.strata.process

import dev.strata.error.WorkerStartException
import dev.strata.task.TaskArgs
import dev.strata.task.Target
import dev.strata.worker.Isolation
import dev.strata.worker.Worker
import dev.strata.worker.WorkerConfig
import io.kotest.core.spec.style.FunSpec
import io.kotest.engine.spec.tempdir
import io.kotest.matchers.shouldBe
import io.kotest.matchers.string.shouldContain
import java.io.File
import java.net.URI
import java.util.concurrent.TimeUnit
import java.util.jar.JarFile
import javax.tools.ToolProvider
import kotlin.time.Duration.Companion.seconds

/**
 * What the standard `kotlin` script runner, an application server or a notebook kernel do: load Strata
 * through a class loader of their own, with a `java.class.path` that does not hold it. Run in a JVM whose
 * classpath is one tiny launcher (plain Java, compiled here): child JVMs must still find `ChildMain`.
 */
object ForeignLoaderScenario {
    @JvmStatic
    fun main(args: Array<String>) {
        try {
            Worker(WorkerConfig(subWorkers = 1, subIsolation = Isolation.PROCESS, callables = listOf(NoOp), closeTimeout = 5.seconds)).use { w ->
                w.run { submit(Target.Sub, NoOp, TaskArgs.EMPTY) }
            }
            println("PASS: a task ran in a child JVM")
        } catch (e: WorkerStartException) {
            println("START FAILED: ${e.message}")
        }
    }
}

/** The classpath of this test JVM as plain entries (a manifest-only booter jar expanded). */
private fun testClasspath(): List<String> = System.getProperty("java.class.path").split(File.pathSeparatorChar).filter { it.isNotBlank() }.flatMap { e ->
    val f = File(e)
    val refs = if (f.isFile && f.name.endsWith(".jar")) JarFile(f).use { it.manifest?.mainAttributes?.getValue("Class-Path") } else null
    if (refs == null) listOf(e) else refs.split(' ').filter { it.isNotBlank() }.map { File(f.toURI().resolve(URI(it))).path }
}

private const val LAUNCHER = """
import java.io.File;
import java.net.URL;
import java.net.URLClassLoader;

public class Launcher {
    public static void main(String[] a) throws Exception {
        String[] parts = a[0].split(File.pathSeparator);
        URL[] urls = new URL[parts.length];
        for (int i = 0; i < parts.length; i++) urls[i] = new File(parts[i]).toURI().toURL();
        URLClassLoader loader = new URLClassLoader(urls, ClassLoader.getPlatformClassLoader());
        Thread.currentThread().setContextClassLoader(loader);
        Class.forName(a[1], true, loader).getMethod("main", String[].class).invoke(null, (Object) new String[0]);
    }
}
"""

class ForeignLoaderSpec : FunSpec({
    afterEach { assertNoLeftovers("the foreign class loader specs") }

    /**
     * Runs [ForeignLoaderScenario] in a JVM whose own classpath is only the launcher (and [shadow], when
     * given: a directory of classes that the foreign loader does not see); returns its output.
     */
    fun runScenario(vararg jvmOptions: String, stderr: Boolean = true, shadow: File? = null): String {
        val dir = tempdir()
        File(dir, "Launcher.java").writeText(LAUNCHER)
        ToolProvider.getSystemJavaCompiler().run(null, null, null, "-d", dir.path, File(dir, "Launcher.java").path) shouldBe 0
        val java = File(System.getProperty("java.home"), "bin/java").path
        val appClasspath = listOfNotNull(dir.path, shadow?.path).joinToString(File.pathSeparator)
        val p = ProcessBuilder(
            listOf(java, "--enable-native-access=ALL-UNNAMED") + jvmOptions +
                listOf("-cp", appClasspath, "Launcher", testClasspath().joinToString(File.pathSeparator), ForeignLoaderScenario::class.java.name),
        ).redirectErrorStream(stderr).apply { if (!stderr) redirectError(ProcessBuilder.Redirect.DISCARD) }.start()
        val out = p.inputStream.bufferedReader().readText()
        if (!p.waitFor(60, TimeUnit.SECONDS)) p.destroyForcibly()
        return out
    }

    test("Strata loaded by a class loader of its own (not on java.class.path): child JVMs get its jars and run tasks") {
        runScenario() shouldContain "PASS: a task ran in a child JVM"
    }

    test("java.class.path holds other copies of classes Strata loads (the kotlin runner's older libraries): children resolve as Strata does") {
        // The standard runner's java.class.path is the compiler's, with kotlinx-coroutines 1.8 ahead of the 1.11 that
        // Strata's loader holds. Here java.class.path shadows the scenario's callable with a class that is no
        // TaskCallable: a child that looked there first would refuse to run it.
        val shadow = tempdir()
        File(shadow, "dev/strata/process").mkdirs()
        File(shadow, "dev/strata/process/NoOp.java").writeText("package dev.strata.process; public class NoOp { }")
        ToolProvider.getSystemJavaCompiler().run(null, null, null, "-d", shadow.path, File(shadow, "dev/strata/process/NoOp.java").path) shouldBe 0
        runScenario(shadow = shadow) shouldContain "PASS: a task ran in a child JVM"
    }

    test("the library prints nothing of its own on stdout, child JVMs included (no logging start-up line)") {
        // The scenario's only line is its verdict: whatever else reaches this JVM's stdout came from Strata.
        runScenario(stderr = false) shouldBe "PASS: a task ran in a child JVM\n"
    }

    test("a child classpath without Strata: the start-up error names the missing class and the override, and nothing starts") {
        val out = runScenario("-D${ChildLauncher.OVERRIDE_CLASSPATH}=/nonexistent/only.jar")
        out shouldContain "START FAILED"
        out shouldContain "class dev.strata.child.ChildMain"
        out shouldContain ChildLauncher.OVERRIDE_CLASSPATH
        out shouldContain "Isolation.THREAD"
    }
})
