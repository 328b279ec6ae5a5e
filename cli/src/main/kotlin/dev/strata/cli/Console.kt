package dev.strata.cli

import com.github.ajalt.mordant.rendering.AnsiLevel
import com.github.ajalt.mordant.rendering.TextColors
import com.github.ajalt.mordant.rendering.TextStyle
import com.github.ajalt.mordant.terminal.Terminal
import java.io.PrintStream

/**
 * Where the CLI writes: [out] for results (sample output, JSON lines, reports), [err] for errors and
 * progress. Status words are colored only when [color] is set, so piped output stays plain text.
 */
public class Console(public val out: PrintStream, public val err: PrintStream, public val color: Boolean) {
    /** [text] in green (success), yellow (warning), red (failure) or dim (information), if coloring. */
    internal fun styled(text: String, tone: Tone): String = if (!color) text else tone.style(text)

    /** The color of a status word. */
    internal enum class Tone(val style: TextStyle) {
        GOOD(TextColors.green),
        WARNING(TextColors.yellow),
        BAD(TextColors.red),
        NEUTRAL(TextColors.cyan),
    }

    public companion object {
        /**
         * The process's stdout and stderr, colored when Mordant detects an interactive terminal with
         * ANSI support and `NO_COLOR` is not set.
         */
        public fun system(): Console {
            val color = System.getenv("NO_COLOR").isNullOrEmpty() && runCatching {
                Terminal().terminalInfo.let { it.outputInteractive && it.ansiLevel != AnsiLevel.NONE }
            }.getOrDefault(false)
            return Console(System.out, System.err, color)
        }
    }
}
