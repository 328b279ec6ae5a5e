package dev.strata.samples

import java.io.ByteArrayOutputStream
import java.io.PrintStream

/** Runs [block] with a print stream it writes to; returns its exit code and what it printed. */
internal fun capture(block: (PrintStream) -> Int): Pair<Int, String> {
    val bytes = ByteArrayOutputStream()
    val code = PrintStream(bytes, true, Charsets.UTF_8).use(block)
    return code to bytes.toString(Charsets.UTF_8)
}

/** Runs [block] with stderr captured too: (exit code, output, stderr). Usage errors go to stderr. */
internal fun captureAll(block: (PrintStream) -> Int): Triple<Int, String, String> {
    val err = ByteArrayOutputStream()
    val realErr = System.err
    System.setErr(PrintStream(err, true, Charsets.UTF_8))
    try {
        val (code, out) = capture(block)
        return Triple(code, out, err.toString(Charsets.UTF_8))
    } finally {
        System.setErr(realErr)
    }
}
