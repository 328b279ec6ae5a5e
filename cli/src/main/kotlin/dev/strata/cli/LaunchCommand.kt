package dev.strata.cli

import com.github.ajalt.clikt.core.CliktCommand
import com.github.ajalt.clikt.core.Context
import com.github.ajalt.clikt.core.ProgramResult
import com.github.ajalt.clikt.parameters.arguments.argument
import com.github.ajalt.clikt.parameters.arguments.multiple
import com.github.ajalt.clikt.parameters.arguments.optional
import java.io.PrintStream

/** A sample or a bench as the CLI sees it: a name, one line of description, and how to run it. */
public class Launchable(
    public val name: String,
    public val description: String,
    private val body: (args: List<String>, out: PrintStream) -> Int,
) {
    /** Runs it with [args], printing to [out]; returns its exit status. */
    public fun run(args: List<String>, out: PrintStream): Int = body(args, out)
}

/**
 * `strata run <sample> [args…]` and `strata bench <name> [args…]`: looks a [kind] (plural [kinds]) up by name in [entries]
 * and runs it, passing every word after the name through untouched (options included). An unknown or
 * missing name prints the valid ones and exits with [StrataCli.UNKNOWN_NAME].
 */
internal class LaunchCommand(
    name: String,
    private val kind: String,
    private val kinds: String,
    private val console: Console,
    private val entries: List<Launchable>,
) : CliktCommand(name) {
    init {
        // Everything after the name belongs to the sample: `strata run pipeline --size 64`.
        configureContext { allowInterspersedArgs = false }
    }

    private val target by argument(name = kind.uppercase(), help = "the $kind to run").optional()
    private val args by argument(name = "ARGS", help = "arguments passed to the $kind as they are").multiple()

    override fun help(context: Context): String = "Run a $kind by name."

    override fun helpEpilog(context: Context): String = "Available $kinds: " +
        (entries.joinToString(", ") { it.name }.ifEmpty { "none registered" })

    override fun run() {
        val name = target
        val entry = entries.firstOrNull { it.name == name }
        if (entry == null) {
            console.err.println(
                if (name == null) "strata $commandName: which $kind? Usage: strata $commandName <$kind> [args...]"
                else "strata $commandName: unknown $kind '$name'",
            )
            console.err.println(listing())
            throw ProgramResult(StrataCli.UNKNOWN_NAME)
        }
        val status = try {
            entry.run(args, console.out)
        } catch (e: Exception) {
            console.out.flush()
            console.err.println("strata $commandName: $kind '${entry.name}' failed with ${e::class.qualifiedName}: ${e.message}")
            e.printStackTrace(console.err)
            1
        }
        console.out.flush()
        if (status != 0) throw ProgramResult(status)
    }

    private fun listing(): String {
        if (entries.isEmpty()) return "Available $kinds: none registered."
        val width = entries.maxOf { it.name.length }
        return "Available $kinds:\n" + entries.joinToString("\n") { "  ${it.name.padEnd(width)}  ${it.description}" }
    }
}
