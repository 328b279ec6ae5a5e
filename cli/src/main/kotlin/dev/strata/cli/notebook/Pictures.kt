package dev.strata.cli.notebook

import dev.strata.cli.picture.BenchBars
import dev.strata.cli.picture.Graphviz
import dev.strata.cli.picture.LetsPlotSvg
import dev.strata.cli.picture.TraceSwimlanes
import dev.strata.record.TaskGraph
import dev.strata.trace.TraceFile
import java.nio.file.Path
import kotlin.time.Duration
import kotlin.time.Duration.Companion.seconds

/**
 * An SVG picture. In the Strata notebook kernel (`strata notebook install`) a cell whose value is an
 * [Svg] shows the picture; elsewhere [text] is the SVG document (write it to a `.svg` file).
 */
public class Svg(public val text: String) {
    override fun toString(): String = text
}

/**
 * This graph's DAG drawn by Graphviz (`dot`, transitively reduced as in [TaskGraph.toDot]), like
 * `strata graph --format svg`. Throws [IllegalStateException] saying what to install when Graphviz is
 * missing, and when it fails or takes longer than [timeout] (it is then stopped).
 */
public fun TaskGraph.svg(timeout: Duration = 60.seconds): Svg = when (val r = Graphviz.render(toDot(), timeout = timeout)) {
    is Graphviz.Result.Svg -> Svg(r.text)
    is Graphviz.Result.Missing -> throw IllegalStateException(
        "Graphviz '${r.command}' is not installed, so the graph of '$name' cannot be drawn: install it (Debian/Ubuntu: " +
            "apt install graphviz), or look at toDot() / toJson()",
    )
    is Graphviz.Result.Failed -> throw IllegalStateException("Graphviz could not draw the graph of '$name' ($size tasks): ${r.why}")
}

/**
 * The swimlane timeline of the trace file at [trace] (written by a worker with `trace(file)` when it
 * closed): a lane per track, a bar per task span, failed ones red. [width] in pixels. Throws
 * [IllegalArgumentException] when the file is not a trace or holds no task spans.
 */
public fun timeline(trace: Path, width: Int = 1000): Svg {
    val file = try {
        TraceFile.read(trace)
    } catch (e: Exception) {
        throw IllegalArgumentException("$trace is not a trace file (${e.message}); a worker writes one when it closes, with trace(file) in its configuration", e)
    }
    val picture = TraceSwimlanes.of(file) ?: throw IllegalArgumentException("$trace holds no task spans: nothing to draw")
    return Svg(TraceSwimlanes.svgText(picture, width))
}

/**
 * Grouped bars, e.g. bench figures: one group per row, labelled by the row's [x] value, one bar per
 * field of [y] (each a number in every row). Throws [IllegalArgumentException] naming the row and the
 * field when one is missing or not a number.
 */
public fun bars(rows: List<Map<String, Any?>>, x: String, y: List<String>, title: String = "", width: Int = 900, height: Int = 450): Svg {
    require(rows.isNotEmpty()) { "no rows: nothing to draw" }
    require(y.isNotEmpty()) { "no y fields: name at least one numeric field to draw" }
    val points = rows.withIndex().flatMap { (i, row) ->
        val label = row[x]?.toString() ?: throw IllegalArgumentException("row $i has no field '$x' (fields: ${row.keys.joinToString()})")
        y.map { f ->
            val v = row[f] as? Number ?: throw IllegalArgumentException("row $i has no numeric field '$f' (fields: ${row.keys.joinToString()})")
            Triple(label, f, v.toDouble())
        }
    }
    return Svg(LetsPlotSvg.text(BenchBars.of(points, x, y, title, width, height)))
}
