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
import dev.strata.trace.TraceFile
import org.jetbrains.letsPlot.export.ggsave
import org.jetbrains.letsPlot.geom.geomRect
import org.jetbrains.letsPlot.ggsize
import org.jetbrains.letsPlot.intern.Plot
import org.jetbrains.letsPlot.label.labs
import org.jetbrains.letsPlot.letsPlot
import org.jetbrains.letsPlot.scale.scaleFillManual
import org.jetbrains.letsPlot.scale.scaleYContinuous
import java.nio.file.Files
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

/** A trace drawn as swimlanes with lets-plot; shared by `strata trace view` and notebooks. */
internal object TraceSwimlanes {
    /** A built picture and what it shows. */
    class Picture(val plot: Plot, val spans: Int, val lanes: Int, val wallMillis: Double)

    /** The swimlanes of [trace]'s task spans (lanes: processes, then tracks, in their order); null without spans. */
    fun of(trace: TraceFile): Picture? {
        val spans = trace.traceEvents.filter { it.ph == "X" && it.dur != null }
        if (spans.isEmpty()) return null
        val processes = trace.processNames
        val tracks = trace.trackNames
        val lanes = spans.map { it.pid to it.tid }.distinct().sortedWith(compareBy({ it.first }, { it.second }))
        val laneOf = lanes.withIndex().associate { (i, k) -> k to i }
        val start = spans.minOf { it.ts }
        val end = spans.maxOf { it.ts + it.dur!! }
        val data = mapOf(
            "start" to spans.map { (it.ts - start) / 1_000.0 },
            "end" to spans.map { (it.ts + it.dur!! - start) / 1_000.0 },
            "low" to spans.map { laneOf.getValue(it.pid to it.tid) - 0.4 },
            "high" to spans.map { laneOf.getValue(it.pid to it.tid) + 0.4 },
            "outcome" to spans.map { it.cat ?: "completed" },
        )
        val labels = lanes.map { (pid, tid) -> "${processes[pid] ?: "pid $pid"} · ${tracks[pid to tid] ?: "tid $tid"}" }
        val plot = letsPlot(data) +
            geomRect(alpha = 0.9, color = "white", size = 0.2) { xmin = "start"; xmax = "end"; ymin = "low"; ymax = "high"; fill = "outcome" } +
            scaleFillManual(values = listOf("#4C78A8", "#E45756"), breaks = listOf("completed", "failed"), name = "") +
            scaleYContinuous(breaks = lanes.indices.map { it }, labels = labels, name = "") +
            labs(x = "ms since the first task started", title = "${spans.size} task spans on ${lanes.size} tracks")
        return Picture(plot, spans.size, lanes.size, (end - start) / 1_000.0)
    }

    /** Writes [picture] as SVG to [out], [width] pixels wide (a lane is about 28 pixels high). */
    fun writeSvg(picture: Picture, out: Path, width: Int) {
        val height = (120 + 28 * picture.lanes).coerceIn(200, 4_000)
        val dir = out.toAbsolutePath().parent
        Files.createDirectories(dir)
        ggsave(picture.plot + ggsize(width, height), out.fileName.toString(), path = dir.toString())
    }
}
