package dev.strata.cli.picture

import dev.strata.trace.TraceFile
import org.jetbrains.letsPlot.geom.geomRect
import org.jetbrains.letsPlot.ggsize
import org.jetbrains.letsPlot.intern.Plot
import org.jetbrains.letsPlot.label.labs
import org.jetbrains.letsPlot.letsPlot
import org.jetbrains.letsPlot.scale.scaleFillManual
import org.jetbrains.letsPlot.scale.scaleYContinuous
import java.nio.file.Path

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
    fun writeSvg(picture: Picture, out: Path, width: Int) = LetsPlotSvg.write(sized(picture, width), out)

    /** [picture] as SVG text, [width] pixels wide. */
    fun svgText(picture: Picture, width: Int): String = LetsPlotSvg.text(sized(picture, width))

    private fun sized(picture: Picture, width: Int): Plot = picture.plot + ggsize(width, (120 + 28 * picture.lanes).coerceIn(200, 4_000))
}
