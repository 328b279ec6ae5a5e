package dev.strata.cli

import com.github.ajalt.clikt.core.CliktCommand
import com.github.ajalt.clikt.core.Context
import com.github.ajalt.clikt.core.ProgramResult
import com.github.ajalt.clikt.core.subcommands
import com.github.ajalt.clikt.parameters.arguments.argument
import com.github.ajalt.clikt.parameters.options.default
import com.github.ajalt.clikt.parameters.options.option
import com.github.ajalt.clikt.parameters.options.required
import com.github.ajalt.clikt.parameters.types.int
import com.github.ajalt.clikt.parameters.types.path
import com.github.ajalt.clikt.parameters.types.restrictTo
import dev.strata.cli.picture.TraceSwimlanes
import dev.strata.trace.TraceFile
import java.nio.file.Path
import java.util.Locale

/** `strata trace …`: what to do with a trace file a worker wrote (`--trace`, `WorkerConfig.trace`). */
internal class TraceCommand(console: Console) : CliktCommand("trace") {
    init {
        subcommands(TraceViewCommand(console))
    }

    override fun help(context: Context): String = "Look at a timeline trace (trace-event JSON written with --trace)."

    override fun run() = Unit
}

/** `strata trace view FILE --svg OUT`: the swimlane timeline of a trace, as an SVG picture. */
internal class TraceViewCommand(private val console: Console) : CliktCommand("view") {
    private val file by argument(name = "FILE", help = "a trace file (trace-event JSON)").path(mustExist = true, canBeDir = false, mustBeReadable = true)
    private val svg by option("--svg", metavar = "OUT", help = "where to write the picture (SVG)").path(canBeDir = false).required()
    private val width by option("--width", help = "picture width in pixels (default 1200)").int().restrictTo(400..8000).default(1200)

    override fun help(context: Context): String =
        "Render a trace's timeline as swimlanes: one lane per track (sub worker, chip, core), a bar per task, " +
            "red for failed ones. Open the trace itself in ui.perfetto.dev for zooming and the task details."

    override fun run() {
        val trace = try {
            TraceFile.read(file)
        } catch (e: Exception) {
            console.err.println("strata trace view: $file is not a trace file: ${e.message}")
            throw ProgramResult(1)
        }
        val picture = TraceSwimlanes.of(trace)
        if (picture == null) {
            console.err.println("strata trace view: $file holds no task spans: nothing to draw")
            throw ProgramResult(1)
        }
        TraceSwimlanes.writeSvg(picture, svg, width)
        console.out.println("strata trace view: ${picture.spans} spans on ${picture.lanes} tracks over ${String.format(Locale.ROOT, "%.2f", picture.wallMillis)} ms -> $svg")
    }
}
