package dev.strata.cli.notebook

import com.github.ajalt.clikt.core.parse
import dev.strata.cli.NotebookInstallCommand
import dev.strata.cli.strata
import dev.strata.error.InvalidCallableException
import dev.strata.testkit.strataKit
import dev.strata.record.TaskGraph
import io.kotest.core.spec.style.FunSpec
import io.kotest.core.test.Enabled
import io.kotest.engine.spec.tempdir
import io.kotest.matchers.collections.shouldContainAll
import io.kotest.matchers.nulls.shouldBeNull
import io.kotest.matchers.shouldBe
import io.kotest.matchers.string.shouldContain
import io.kotest.matchers.string.shouldStartWith
import io.kotest.matchers.types.shouldBeInstanceOf
import kotlinx.serialization.json.Json
import kotlinx.serialization.json.JsonArray
import kotlinx.serialization.json.JsonObject
import kotlinx.serialization.json.jsonArray
import kotlinx.serialization.json.jsonObject
import kotlinx.serialization.json.jsonPrimitive
import org.dflib.jjava.jupyter.kernel.display.DisplayData
import org.dflib.jjava.jupyter.kernel.display.mime.MIMEType
import java.io.File
import java.util.concurrent.TimeUnit

private val repoRoot: File = generateSequence(File("").absoluteFile) { it.parentFile }.first { File(it, "samples/notebooks").isDirectory }

/** Why the notebooks cannot be executed here (no `jupyter nbconvert` with a kernel client), or null. */
private val nbconvertMissing: String? by lazy {
    val p = runCatching { ProcessBuilder("jupyter", "nbconvert", "--version").redirectErrorStream(true).start() }.getOrNull()
        ?: return@lazy "Jupyter is not installed ('jupyter' is not on PATH; .ci/run installs Debian's jupyter-nbconvert, python3-nbclient and python3-ipykernel)"
    if (!p.waitFor(60, TimeUnit.SECONDS)) p.destroyForcibly()
    if (p.isAlive || p.exitValue() != 0) "jupyter nbconvert does not run here (${p.inputStream.bufferedReader().readText().trim().take(200)})" else null
}

class KotlinReplSpec : FunSpec({
    strataKit()
    val repl by lazy { KotlinRepl(StrataKernel.classpath(), StrataKernel::class.java.classLoader) }

    test("a cell's value, declarations that later cells see, statements without a value") {
        repl.eval("1 + 1") shouldBe KotlinRepl.Outcome.Value(2)
        repl.eval("val answer = 40\nfun twice(x: Int) = 2 * x") shouldBe KotlinRepl.Outcome.Value(null)
        repl.eval("twice(answer / 2) + 2") shouldBe KotlinRepl.Outcome.Value(42)
        repl.eval("println(\"printed\")") shouldBe KotlinRepl.Outcome.Value(null)
    }

    test("a cell that does not compile reports each error with its line and column; later cells still run") {
        val failed = repl.eval("val x = 1\nval y: String = x").shouldBeInstanceOf<KotlinRepl.Outcome.CompileFailed>()
        failed.errors.single() shouldStartWith "line 2:"
        failed.errors.single() shouldContain "Int"
        repl.eval("3") shouldBe KotlinRepl.Outcome.Value(3)
    }

    test("a cell that throws reports the exception itself") {
        val threw = repl.eval("error(\"boom\")").shouldBeInstanceOf<KotlinRepl.Outcome.Threw>()
        threw.error.message shouldBe "boom"
    }

    test("Strata in cells: a kernel declared in a cell runs on threads; child JVMs refuse it, saying why and what to do") {
        repl.eval(
            """
            object Inc : TaskCallable {
                override fun call(context: TaskContext) { val t = context.tensor(0); t.setInt(0, t.getInt(0) + 1) }
            }
            worker(level = 3) { subWorkers(1) }.use { w ->
                val t = w.hostTensor(DType.I32, 1)
                w.run { submit(sub, "inc", { inout(t) }, Inc) }
                t.getInt(0)
            }
            """.trimIndent(),
        ) shouldBe KotlinRepl.Outcome.Value(1)
        val refused = repl.eval(
            """
            worker(level = 3) { subWorkers(1, Isolation.PROCESS) }.use { w ->
                val t = w.hostTensor(DType.I32, 1)
                w.run { submit(sub, "inc", { inout(t) }, Inc) }
            }
            """.trimIndent(),
        ).shouldBeInstanceOf<KotlinRepl.Outcome.Threw>()
        refused.error.shouldBeInstanceOf<InvalidCallableException>()
        refused.error.message!! shouldContain "compiled in memory"
        refused.error.message!! shouldContain "Isolation.THREAD"
    }
})

class StrataKernelSpec : FunSpec({
    test("a cell's picture shows as SVG, a graph as its DAG (SVG with Graphviz, DOT text without), other values as themselves") {
        val kernel = StrataKernel.Builder().build()
        val svg = kernel.present(Svg("<svg/>")).shouldBeInstanceOf<DisplayData>()
        svg.getData(MIMEType.IMAGE_SVG) shouldBe "<svg/>"
        val graph = TaskGraph.record("g") { }
        val shown = kernel.present(graph).shouldBeInstanceOf<DisplayData>()
        (shown.getData(MIMEType.TEXT_PLAIN) as String) shouldStartWith "digraph \"g\""
        kernel.present(null).shouldBeNull()
        kernel.present(42) shouldBe 42
    }

    test("pictures: bars name the row and field that are missing; a timeline of a file that is no trace says so") {
        bars(listOf(mapOf("x" to "a", "v" to 1.0)), x = "x", y = listOf("v")).text shouldContain "<svg"
        val missing = runCatching { bars(listOf(mapOf("x" to "a")), x = "x", y = listOf("v")) }.exceptionOrNull()!!
        missing.message shouldBe "row 0 has no numeric field 'v' (fields: x)"
        val notTrace = File.createTempFile("not-a-trace", ".json").apply { writeText("{}"); deleteOnExit() }
        runCatching { timeline(notTrace.toPath()) }.exceptionOrNull()!!.message!! shouldContain "is not a trace file"
    }
})

class NotebookCommandSpec : FunSpec({
    test("notebook install writes a kernelspec that starts this JDK with this classpath and the kernel command") {
        val dir = tempdir()
        val r = strata("notebook", "install", "--dir", dir.path)
        r.status shouldBe 0
        r.out shouldContain "JUPYTER_PATH=${dir.absolutePath}"
        val spec = Json.parseToJsonElement(File(dir, "kernels/strata-kotlin/kernel.json").readText()).jsonObject
        spec["display_name"]!!.jsonPrimitive.content shouldBe NotebookInstallCommand.DISPLAY_NAME
        spec["language"]!!.jsonPrimitive.content shouldBe "kotlin"
        val argv = spec["argv"]!!.jsonArray.map { it.jsonPrimitive.content }
        argv.first() shouldBe File(System.getProperty("java.home"), "bin/java").path
        argv shouldContainAll listOf("--enable-native-access=ALL-UNNAMED", "dev.strata.cli.MainKt", "notebook", "kernel", "{connection_file}")
        val cp = argv[argv.indexOf("-cp") + 1].split(File.pathSeparatorChar)
        cp.all { File(it).isAbsolute } shouldBe true
    }

    test("without --dir it installs into \$JUPYTER_DATA_DIR; --name names the kernel") {
        val dir = tempdir()
        val out = java.io.ByteArrayOutputStream()
        val console = dev.strata.cli.Console(java.io.PrintStream(out, true), java.io.PrintStream(java.io.OutputStream.nullOutputStream()), color = false)
        dev.strata.cli.NotebookCommand(console, env = { if (it == "JUPYTER_DATA_DIR") dir.path else null }).parse(listOf("install", "--name", "mine"))
        File(dir, "kernels/mine/kernel.json").isFile shouldBe true
        out.toString() shouldContain "Jupyter is not installed here" // no PATH in this environment
    }

    test("notebook --help and install --help print their usage (exit 0)") {
        strata("notebook", "--help").let { it.status shouldBe 0; it.out shouldContain "install" }
        strata("notebook", "install", "--help").let { it.status shouldBe 0; it.out shouldContain "--dir" }
    }
})

/**
 * The sample notebooks, executed as CI executes them: `jupyter nbconvert --execute` with the Strata kernel
 * installed into a private Jupyter path. A failing cell fails nbconvert; every notebook must print PASS.
 */
class SampleNotebooksSpec : FunSpec({
    strataKit()
    val notebooks = File(repoRoot, "samples/notebooks").listFiles { f -> f.name.endsWith(".ipynb") }!!.sortedBy { it.name }

    test("there are notebooks for the allreduce and the pipeline") {
        notebooks.map { it.name } shouldContainAll listOf("allreduce.ipynb", "pipeline.ipynb")
    }

    for (nb in notebooks) {
        test("${nb.name} runs to its end under jupyter nbconvert and prints PASS, its pictures inline")
            .config(enabledOrReasonIf = { nbconvertMissing?.let { Enabled.disabled(it) } ?: Enabled.enabled }) {
                val jupyterPath = tempdir()
                strata("notebook", "install", "--dir", jupyterPath.path).status shouldBe 0
                val out = File(tempdir(), nb.name)
                val p = ProcessBuilder(
                    "jupyter", "nbconvert", "--to", "notebook", "--execute", "--ExecutePreprocessor.timeout=300",
                    nb.path, "--output", out.path,
                ).redirectErrorStream(true).apply { environment()["JUPYTER_PATH"] = jupyterPath.path }.start()
                val log = StringBuilder()
                val reader = Thread { log.append(p.inputStream.bufferedReader().readText()) }.apply { isDaemon = true; start() }
                if (!p.waitFor(10, TimeUnit.MINUTES)) p.destroyForcibly()
                reader.join(5_000)
                withClue(log) { p.exitValue() shouldBe 0 }
                val cells = (Json.parseToJsonElement(out.readText()).jsonObject["cells"] as JsonArray).map { it.jsonObject }
                val outputs = cells.flatMap { (it["outputs"] as? JsonArray).orEmpty() }.map { it.jsonObject }
                val text = outputs.joinToString("\n") { o -> (o["text"] as? JsonArray)?.joinToString("") { it.jsonPrimitive.content }.orEmpty() }
                text shouldContain "PASS"
                outputs.none { it["output_type"]?.jsonPrimitive?.content == "error" } shouldBe true
                // Each notebook draws a DAG (an SVG with Graphviz, its DOT text without) and two more pictures.
                val graphviz = System.getenv("PATH").orEmpty().split(File.pathSeparator).any { File(it, "dot").canExecute() }
                outputs.count { o -> (o["data"] as? JsonObject)?.containsKey("image/svg+xml") == true } shouldBe (if (graphviz) 3 else 2)
            }
    }
})

private inline fun <T> withClue(clue: Any, block: () -> T): T = io.kotest.assertions.withClue(clue, block)
