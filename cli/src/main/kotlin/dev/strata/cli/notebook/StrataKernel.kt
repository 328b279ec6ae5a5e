package dev.strata.cli.notebook

import dev.strata.record.TaskGraph
import org.dflib.jjava.jupyter.channels.JupyterConnection
import org.dflib.jjava.jupyter.kernel.BaseKernel
import org.dflib.jjava.jupyter.kernel.BaseKernelBuilder
import org.dflib.jjava.jupyter.kernel.KernelConnectionProperties
import org.dflib.jjava.jupyter.kernel.LanguageInfo
import org.dflib.jjava.jupyter.kernel.ReplacementOptions
import org.dflib.jjava.jupyter.kernel.display.DisplayData
import org.dflib.jjava.jupyter.kernel.magic.MagicParser
import java.io.File
import java.nio.file.Files
import java.nio.file.Path

/**
 * The Strata Kotlin kernel for Jupyter: Kotlin 2.4 cells ([KotlinRepl]) with Strata, its samples and the
 * notebook pictures ([Svg], [svg], [timeline], [bars]) on the classpath, over the Jupyter wire protocol of
 * `jjava-jupyter`. A cell whose value is an [Svg] shows the picture, a [TaskGraph] its DAG (with Graphviz;
 * its DOT text without); a failing cell reports its compile errors or its exception, and the notebook stops
 * there as with any kernel.
 */
internal class StrataKernel private constructor(builder: Builder) : BaseKernel(
    builder.name(), builder.version(), LANGUAGE, emptyList(), null, builder.io(), builder.comms(), builder.renderer(),
    MagicParser("^\\s*%(?!%)", "%%", builder.transpiler()), builder.magics(), false, builder.errorStyler(),
) {
    private val repl = KotlinRepl(classpath(), StrataKernel::class.java.classLoader)

    override fun getBanner(): String = "Kotlin ${KotlinVersion.CURRENT} + Strata on JDK ${Runtime.version()}"

    /** The thread running a cell, while one runs (what an interrupt request interrupts). */
    @Volatile
    private var running: Thread? = null

    override fun evalRaw(code: String): Any? {
        running = Thread.currentThread()
        val outcome = try {
            repl.eval(code)
        } finally {
            running = null
            Thread.interrupted() // an interrupt that came as the cell ended must not hit the next one
        }
        return when (outcome) {
            is KotlinRepl.Outcome.Value -> present(outcome.value)
            is KotlinRepl.Outcome.CompileFailed -> throw CellCompileException(outcome.errors)
            is KotlinRepl.Outcome.Threw -> throw outcome.error
        }
    }

    /** Jupyter's "interrupt the kernel": interrupts the thread running the cell. */
    override fun interrupt() {
        running?.interrupt()
    }

    /** What a cell's value shows as: pictures as SVG, a graph as its DAG, anything else as text. */
    internal fun present(value: Any?): Any? = when (value) {
        null -> null
        is Svg -> DisplayData().apply { putSVG(value.text); putText("<svg: ${value.text.length} characters>") }
        is TaskGraph -> runCatching { value.svg() }.fold(
            { DisplayData().apply { putSVG(it.text); putText(value.toDot()) } },
            { DisplayData(value.toDot()) }, // no Graphviz: the DOT text says the same
        )
        else -> value
    }

    override fun formatError(e: Throwable): List<String> =
        if (e is CellCompileException) e.errors else super.formatError(e)

    override fun inspect(code: String, at: Int, extraDetail: Boolean): DisplayData? = null

    override fun complete(code: String, at: Int): ReplacementOptions? = null

    override fun isComplete(code: String): String = IS_COMPLETE_MAYBE

    /** A cell that does not compile: its errors, each with its line and column. */
    class CellCompileException(val errors: List<String>) : RuntimeException(errors.joinToString("\n"))

    /** Reaches the builder's protected parts (the defaults of `jjava-jupyter`). */
    internal class Builder : BaseKernelBuilder<Builder, StrataKernel>() {
        init {
            name("strata-kotlin")
            version(StrataKernel::class.java.`package`?.implementationVersion ?: "dev")
        }

        fun name(): String = buildName()
        fun version(): String = buildVersion()
        fun io() = buildJupyterIO(buildJupyterIOEncoding())
        fun comms() = buildCommManager()
        fun renderer() = buildRenderer()
        fun transpiler() = buildMagicTranspiler()
        fun magics() = buildMagicsRegistry()
        fun errorStyler() = buildErrorStyler()
        override fun build(): StrataKernel = StrataKernel(this)
    }

    companion object {
        private val LANGUAGE = LanguageInfo("kotlin", KotlinVersion.CURRENT.toString(), "text/x-kotlin", ".kt", "kotlin", "kotlin", "")

        /**
         * What cells compile against: this JVM's classpath (the CLI's jar holds Strata, its samples and Kotlin),
         * with the entries a jar's manifest `Class-Path` names (a launcher jar's, as build tools write them):
         * the compiler reads jars, not manifests.
         */
        internal fun classpath(): List<File> {
            val seen = LinkedHashSet<File>()
            val queue = ArrayDeque(System.getProperty("java.class.path").split(File.pathSeparatorChar).filter { it.isNotBlank() }.map { File(it).absoluteFile })
            while (queue.isNotEmpty()) {
                val f = queue.removeFirst()
                if (!seen.add(f) || !f.isFile) continue
                val refs = runCatching { java.util.jar.JarFile(f).use { it.manifest?.mainAttributes?.getValue("Class-Path") } }.getOrNull() ?: continue
                for (ref in refs.split(' ').filter { it.isNotBlank() }) {
                    runCatching { File(f.toURI().resolve(ref)) }.getOrNull()?.let { queue += it }
                }
            }
            return seen.toList()
        }

        /**
         * Serves the Jupyter connection described by [connectionFile] (Jupyter starts the kernel with it)
         * until Jupyter shuts the kernel down.
         */
        fun serve(connectionFile: Path) {
            val connection = JupyterConnection(KernelConnectionProperties.parse(Files.readString(connectionFile)))
            val kernel = Builder().build()
            kernel.becomeHandlerForConnection(connection)
            connection.connect()
            connection.waitUntilClose()
        }
    }
}
