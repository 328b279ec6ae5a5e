package dev.strata.samples

import java.io.ByteArrayOutputStream
import java.io.PrintStream

/** Runs [block] with a print stream it writes to; returns its exit code and what it printed. */
internal fun capture(block: (PrintStream) -> Int): Pair<Int, String> {
    val bytes = ByteArrayOutputStream()
    val code = PrintStream(bytes, true, Charsets.UTF_8).use(block)
    return code to bytes.toString(Charsets.UTF_8)
}
