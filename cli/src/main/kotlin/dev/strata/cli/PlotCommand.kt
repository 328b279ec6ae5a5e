package dev.strata.cli

import com.github.ajalt.clikt.core.CliktCommand
import com.github.ajalt.clikt.core.Context
import com.github.ajalt.clikt.core.ProgramResult
import com.github.ajalt.clikt.parameters.arguments.argument
import com.github.ajalt.clikt.parameters.options.default
import com.github.ajalt.clikt.parameters.options.option
import com.github.ajalt.clikt.parameters.options.required
import com.github.ajalt.clikt.parameters.options.split
import com.github.ajalt.clikt.parameters.types.path
import kotlinx.serialization.json.Json
import kotlinx.serialization.json.JsonObject
import kotlinx.serialization.json.JsonPrimitive
import kotlinx.serialization.json.doubleOrNull
import dev.strata.cli.picture.BenchBars
import dev.strata.cli.picture.LetsPlotSvg
import java.nio.file.Files

/**
 * `strata plot FILE --x FIELD --y FIELD[,FIELD…] --svg OUT`: bench results (the JSON lines `strata bench`
 * prints) as a bar chart — a group of bars per line, labelled by its [x] field, one bar per [y] field.
 */
internal class PlotCommand(private val console: Console) : CliktCommand("plot") {
    private val file by argument(name = "FILE", help = "JSON lines, e.g. the output of `strata bench allreduce`").path(mustExist = true, canBeDir = false, mustBeReadable = true)
    private val x by option("--x", metavar = "FIELD", help = "the field that labels each line's bars (default: bench)").default("bench")
    private val y by option("--y", metavar = "FIELD,…", help = "the numeric fields to draw, one bar each").split(",").required()
    private val svg by option("--svg", metavar = "OUT", help = "where to write the chart (SVG)").path(canBeDir = false).required()
    private val title by option("--title", help = "the chart's title (default: the file name)")

    override fun help(context: Context): String =
        "Plot bench results (JSON lines) as bars, e.g. `strata bench allreduce --chips 2,4,8 > a.jsonl; " +
            "strata plot a.jsonl --x chips --y gbps,memcpy_gbps --svg a.svg`."

    override fun run() {
        val rows = ArrayList<Triple<String, String, Double>>() // x, field, value
        for ((n, line) in Files.readAllLines(file).withIndex()) {
            if (line.isBlank()) continue
            val obj = runCatching { Json.parseToJsonElement(line) as JsonObject }.getOrNull() ?: fail("line ${n + 1} of $file is not a JSON object")
            val label = (obj[x] as? JsonPrimitive)?.content ?: fail("line ${n + 1} of $file has no field '$x' (fields: ${obj.keys.joinToString()})")
            for (f in y) {
                val v = (obj[f] as? JsonPrimitive)?.doubleOrNull ?: fail("line ${n + 1} of $file has no numeric field '$f' (fields: ${obj.keys.joinToString()})")
                rows += Triple(label, f, v)
            }
        }
        if (rows.isEmpty()) fail("$file holds no JSON lines: nothing to plot")
        LetsPlotSvg.write(BenchBars.of(rows, x, y, title ?: file.fileName.toString()), svg)
        console.out.println("strata plot: ${rows.size} bars from $file -> $svg")
    }

    private fun fail(message: String): Nothing {
        console.err.println("strata plot: $message")
        throw ProgramResult(1)
    }
}
