package dev.strata.cli

import com.github.ajalt.clikt.core.CliktCommand
import com.github.ajalt.clikt.core.Context
import com.github.ajalt.clikt.core.ProgramResult
import com.github.ajalt.clikt.parameters.arguments.argument
import com.github.ajalt.clikt.parameters.arguments.multiple
import com.github.ajalt.clikt.parameters.arguments.optional
import dev.strata.record.TaskGraph
import java.util.concurrent.TimeUnit

/**
 * `strata graph <sample> [--format dot|json|svg] [sample args…]`: records the sample's program as a
 * [TaskGraph] (nothing runs) and prints it. SVG goes through Graphviz `dot` when it is installed; without
 * it the command says so and exits with [NO_GRAPHVIZ].
 */
internal class GraphCommand(
    private val console: Console,
    private val graphs: Map<String, (List<String>) -> TaskGraph?>,
    private val dotCommand: String = "dot",
) : CliktCommand("graph") {
    init {
        configureContext { allowInterspersedArgs = false }
    }

    private val sample by argument(name = "SAMPLE", help = "the sample whose DAG to print").optional()
    private val args by argument(name = "ARGS", help = "--format dot|json|svg (default dot), then the sample's own arguments").multiple()

    override fun help(context: Context): String = "Print a sample's task DAG as Graphviz DOT, JSON or SVG (nothing runs)."

    override fun helpEpilog(context: Context): String = "Samples: ${graphs.keys.joinToString(", ")}"

    override fun run() {
        val name = sample
        val record = graphs[name]
        if (record == null) {
            console.err.println(if (name == null) "strata graph: which sample? Usage: strata graph <sample> [--format dot|json|svg] [args...]" else "strata graph: unknown sample '$name'")
            console.err.println("Samples: ${graphs.keys.joinToString(", ")}")
            throw ProgramResult(StrataCli.UNKNOWN_NAME)
        }
        var format = "dot"
        val rest = ArrayList<String>()
        var i = 0
        while (i < args.size) {
            val a = args[i++]
            when {
                a == "--format" -> format = args.getOrNull(i++) ?: usage("--format needs dot, json or svg")
                a.startsWith("--format=") -> format = a.substringAfter('=')
                else -> rest += a
            }
        }
        if (format !in setOf("dot", "json", "svg")) usage("--format is dot, json or svg, was '$format'")
        val graph = try {
            record(rest) ?: usage("sample '$name' has no graph")
        } catch (e: IllegalArgumentException) {
            usage("$name: ${e.message}")
        }
        when (format) {
            "dot" -> console.out.print(graph.toDot())
            "json" -> console.out.println(graph.toJson())
            else -> console.out.print(svg(graph.toDot()))
        }
    }

    private fun usage(message: String): Nothing {
        console.err.println("strata graph: $message")
        throw ProgramResult(USAGE)
    }

    /** Renders [dot] with Graphviz; exits with [NO_GRAPHVIZ] and a clear message when it is not installed. */
    private fun svg(dot: String): String {
        val p = try {
            ProcessBuilder(dotCommand, "-Tsvg").redirectError(ProcessBuilder.Redirect.PIPE).start()
        } catch (e: java.io.IOException) {
            console.err.println(
                "strata graph: Graphviz '$dotCommand' is not installed, so there is no SVG. Install it (Debian/Ubuntu: " +
                    "apt install graphviz) or print DOT with --format dot and render it elsewhere.",
            )
            throw ProgramResult(NO_GRAPHVIZ)
        }
        val out = StringBuilder()
        val reader = Thread { out.append(p.inputStream.bufferedReader().readText()) }.apply { start() }
        p.outputStream.use { it.write(dot.toByteArray()) }
        val finished = p.waitFor(60, TimeUnit.SECONDS)
        reader.join(5_000)
        if (!finished || p.exitValue() != 0) {
            p.destroyForcibly()
            console.err.println("strata graph: '$dotCommand -Tsvg' failed: ${p.errorStream.bufferedReader().readText().trim()}")
            throw ProgramResult(NO_GRAPHVIZ)
        }
        return out.toString()
    }

    companion object {
        const val USAGE = 2
        const val NO_GRAPHVIZ = 3
    }
}
