package dev.strata.cli.picture

import org.jetbrains.letsPlot.Stat
import org.jetbrains.letsPlot.export.ggsave
import org.jetbrains.letsPlot.geom.geomBar
import org.jetbrains.letsPlot.ggsize
import org.jetbrains.letsPlot.intern.Plot
import org.jetbrains.letsPlot.label.labs
import org.jetbrains.letsPlot.letsPlot
import org.jetbrains.letsPlot.pos.positionDodge
import java.nio.file.Files
import java.nio.file.Path

/** Bench figures as grouped bars (shared by `strata plot` and notebooks). */
internal object BenchBars {
    /** [rows] are (x label, field, value): a group of bars per x label, one bar per field. */
    fun of(rows: List<Triple<String, String, Double>>, x: String, y: List<String>, title: String, width: Int = 900, height: Int = 500): Plot {
        val data = mapOf("x" to rows.map { it.first }, "field" to rows.map { it.second }, "value" to rows.map { it.third })
        return letsPlot(data) +
            geomBar(stat = Stat.identity, position = positionDodge()) { this.x = "x"; this.y = "value"; fill = "field" } +
            labs(x = x, y = y.joinToString(", "), title = title, fill = "") +
            ggsize(width, height)
    }
}

/** lets-plot pictures as SVG: a file, or the text (for a notebook cell). */
internal object LetsPlotSvg {
    /** Writes [plot] as SVG to [out] (its directory is created). */
    fun write(plot: Plot, out: Path) {
        val dir = out.toAbsolutePath().parent
        Files.createDirectories(dir)
        ggsave(plot, out.fileName.toString(), path = dir.toString())
    }

    /** [plot] as SVG text. */
    fun text(plot: Plot): String {
        val dir = Files.createTempDirectory("strata-plot")
        try {
            val file = dir.resolve("plot.svg")
            write(plot, file)
            return Files.readString(file)
        } finally {
            dir.toFile().deleteRecursively()
        }
    }
}
