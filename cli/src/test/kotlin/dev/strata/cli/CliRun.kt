package dev.strata.cli

import java.io.ByteArrayOutputStream
import java.io.PrintStream

/** What one CLI invocation printed and returned. */
internal class CliOutcome(val status: Int, val out: String, val err: String)

/** Runs `strata [argv]` through the whole command line in this JVM, its output captured (no colour). */
internal fun strata(vararg argv: String): CliOutcome {
    val out = ByteArrayOutputStream()
    val err = ByteArrayOutputStream()
    val console = Console(PrintStream(out, true, Charsets.UTF_8), PrintStream(err, true, Charsets.UTF_8), color = false)
    val status = StrataCli.run(argv.toList(), console)
    return CliOutcome(status, out.toString(Charsets.UTF_8), err.toString(Charsets.UTF_8))
}
