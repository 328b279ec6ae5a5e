package dev.strata.cli

import com.github.ajalt.clikt.core.CliktCommand
import com.github.ajalt.clikt.core.Context
import com.github.ajalt.clikt.core.ProgramResult
import com.github.ajalt.clikt.parameters.arguments.argument
import com.github.ajalt.clikt.parameters.arguments.multiple
import com.github.ajalt.clikt.core.subcommands
import com.github.ajalt.clikt.parameters.options.default
import com.github.ajalt.clikt.parameters.options.option
import com.github.ajalt.clikt.parameters.types.choice
import dev.strata.cli.picture.Graphviz
import dev.strata.record.TaskGraph
import kotlin.time.Duration
import kotlin.time.Duration.Companion.seconds

/**
 * `strata graph <sample> [--format dot|json|svg] [sample args…]`: records the sample's program as a
 * [TaskGraph] (nothing runs) and prints it. One Clikt subcommand per sample: `--format` is its own option,
 * every other argument is the sample's (parsed by the sample). SVG goes through Graphviz `dot` when it is
 * installed; without it the command says so and exits with [NO_GRAPHVIZ].
 */
internal class GraphCommand(
    console: Console,
    graphs: Map<String, (List<String>) -> TaskGraph?>,
    dotCommand: String = "dot",
    /** How long Graphviz may take to lay a graph out before it is stopped. */
    renderTimeout: Duration = 60.seconds,
) : CliktCommand("graph") {
    init {
        subcommands(graphs.map { (name, record) -> GraphSampleCommand(name, record, console, dotCommand, renderTimeout) })
    }

    override fun help(context: Context): String = "Print a sample's task DAG as Graphviz DOT, JSON or SVG (nothing runs)."

    override fun run() = Unit

    companion object {
        const val USAGE = 2
        const val NO_GRAPHVIZ = 3
    }
}

/** `strata graph <name> …` for one sample. */
internal class GraphSampleCommand(
    private val sample: String,
    private val record: (List<String>) -> TaskGraph?,
    private val console: Console,
    private val dotCommand: String,
    private val renderTimeout: Duration,
) : CliktCommand(sample) {
    override val treatUnknownOptionsAsArgs: Boolean = true

    private val format by option("--format", help = "dot (default), json or svg (through Graphviz)").choice("dot", "json", "svg").default("dot")
    private val args by argument(name = "ARGS", help = "the sample's own options (see below)").multiple()

    override fun help(context: Context): String = "Print the task DAG of `strata run $sample` without running anything."

    override fun helpEpilog(context: Context): String =
        runCatching { record(listOf("--help")) }.exceptionOrNull()?.message?.let { help ->
            // Clikt rewraps epilog paragraphs; NEL (U+0085) is its hard line break, which keeps the sample's own layout.
            "The sample's options:\n\n" + help.lines().joinToString("\u0085") { it.ifEmpty { " " } }
        }.orEmpty()

    override fun run() {
        val graph = try {
            record(args) ?: usage("sample '$sample' has no graph")
        } catch (e: IllegalArgumentException) {
            usage("$sample: ${e.message}")
        }
        when (format) {
            "dot" -> console.out.print(graph.toDot())
            "json" -> console.out.println(graph.toJson())
            else -> console.out.print(svg(graph))
        }
    }

    private fun usage(message: String): Nothing {
        console.err.println("strata graph: $message")
        throw ProgramResult(GraphCommand.USAGE)
    }

    /**
     * Renders [graph]'s transitively reduced DOT with Graphviz, saying first what it renders (layout of a
     * large DAG takes seconds). Exits with [GraphCommand.NO_GRAPHVIZ] and a clear message when Graphviz is not
     * installed, fails, or has not finished within [renderTimeout] (it is then killed).
     */
    private fun svg(graph: TaskGraph): String {
        val dot = graph.toDot()
        val drawn = dot.lineSequence().count { it.contains(" -> ") }
        console.err.println("strata graph: rendering ${graph.size} tasks and $drawn edges (transitive reduction of ${graph.edgeCount}) with Graphviz…")
        when (val r = Graphviz.render(dot, dotCommand, renderTimeout)) {
            is Graphviz.Result.Svg -> return r.text
            is Graphviz.Result.Missing -> console.err.println(
                "strata graph: Graphviz '$dotCommand' is not installed, so there is no SVG. Install it (Debian/Ubuntu: " +
                    "apt install graphviz) or print DOT with --format dot and render it elsewhere.",
            )
            is Graphviz.Result.Failed -> console.err.println(
                if (r.timedOut) {
                    "strata graph: Graphviz did not finish laying out ${graph.size} tasks and $drawn edges within $renderTimeout, " +
                        "so it was stopped. Record a smaller graph (the sample's size arguments), or print --format dot or json."
                } else {
                    "strata graph: ${r.why}"
                },
            )
        }
        throw ProgramResult(GraphCommand.NO_GRAPHVIZ)
    }
}
