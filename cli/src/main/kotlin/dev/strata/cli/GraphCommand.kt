package dev.strata.cli

import com.github.ajalt.clikt.core.CliktCommand
import com.github.ajalt.clikt.core.Context
import com.github.ajalt.clikt.core.ProgramResult
import com.github.ajalt.clikt.parameters.arguments.argument
import com.github.ajalt.clikt.parameters.arguments.multiple
import com.github.ajalt.clikt.parameters.arguments.optional
import dev.strata.record.TaskGraph
import java.util.concurrent.TimeUnit
import kotlin.time.Duration
import kotlin.time.Duration.Companion.seconds

/**
 * `strata graph <sample> [--format dot|json|svg] [sample args…]`: records the sample's program as a
 * [TaskGraph] (nothing runs) and prints it. SVG goes through Graphviz `dot` when it is installed; without
 * it the command says so and exits with [NO_GRAPHVIZ].
 */
internal class GraphCommand(
    private val console: Console,
    private val graphs: Map<String, (List<String>) -> TaskGraph?>,
    private val dotCommand: String = "dot",
    /** How long Graphviz may take to lay a graph out before it is stopped. */
    private val renderTimeout: Duration = 60.seconds,
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
        if ("--help" in rest || "-h" in rest) { // the sample's options, not a graph
            val sampleHelp = runCatching { record(listOf("--help")) }.exceptionOrNull()?.message
            console.out.println("Usage: strata graph $name [--format dot|json|svg] [options…]\n")
            console.out.println("Prints the task DAG of `strata run $name` without running anything. Its options are the sample's:")
            sampleHelp?.let { console.out.println("\n" + it) }
            return
        }
        val graph = try {
            record(rest) ?: usage("sample '$name' has no graph")
        } catch (e: IllegalArgumentException) {
            usage("$name: ${e.message}")
        }
        when (format) {
            "dot" -> console.out.print(graph.toDot())
            "json" -> console.out.println(graph.toJson())
            else -> console.out.print(svg(graph))
        }
    }

    private fun usage(message: String): Nothing {
        console.err.println("strata graph: $message")
        throw ProgramResult(USAGE)
    }

    /**
     * Renders [graph]'s transitively reduced DOT with Graphviz, saying first what it renders (layout of a
     * large DAG takes seconds). Exits with [NO_GRAPHVIZ] and a clear message when Graphviz is not
     * installed, fails, or has not finished within [renderTimeout] (it is then killed).
     */
    private fun svg(graph: TaskGraph): String {
        val dot = graph.toDot()
        val drawn = dot.lineSequence().count { it.contains(" -> ") }
        console.err.println("strata graph: rendering ${graph.size} tasks and $drawn edges (transitive reduction of ${graph.edgeCount}) with Graphviz…")
        val p = try {
            ProcessBuilder(dotCommand, "-Tsvg").start()
        } catch (e: java.io.IOException) {
            console.err.println(
                "strata graph: Graphviz '$dotCommand' is not installed, so there is no SVG. Install it (Debian/Ubuntu: " +
                    "apt install graphviz) or print DOT with --format dot and render it elsewhere.",
            )
            throw ProgramResult(NO_GRAPHVIZ)
        }
        try {
            val out = StringBuilder()
            val errors = StringBuilder()
            val readers = listOf(
                Thread { out.append(p.inputStream.bufferedReader().readText()) },
                Thread { errors.append(p.errorStream.bufferedReader().readText()) }, // drained, so dot never blocks on it
            ).onEach { it.isDaemon = true; it.start() }
            try {
                p.outputStream.use { it.write(dot.toByteArray()) }
            } catch (_: java.io.IOException) {
                // dot exited early; its status and stderr say why
            }
            if (!p.waitFor(renderTimeout.inWholeMilliseconds, TimeUnit.MILLISECONDS)) {
                console.err.println(
                    "strata graph: Graphviz did not finish laying out ${graph.size} tasks and $drawn edges within $renderTimeout, " +
                        "so it was stopped. Record a smaller graph (the sample's size arguments), or print --format dot or json.",
                )
                throw ProgramResult(NO_GRAPHVIZ)
            }
            readers.forEach { it.join(5_000) }
            if (p.exitValue() != 0) {
                console.err.println("strata graph: '$dotCommand -Tsvg' failed (exit ${p.exitValue()}): ${errors.toString().trim()}")
                throw ProgramResult(NO_GRAPHVIZ)
            }
            return out.toString()
        } finally {
            if (p.isAlive) {
                p.destroyForcibly()
                p.waitFor(5, TimeUnit.SECONDS)
            }
        }
    }

    companion object {
        const val USAGE = 2
        const val NO_GRAPHVIZ = 3
    }
}
