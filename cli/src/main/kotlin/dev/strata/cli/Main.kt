package dev.strata.cli

import com.github.ajalt.clikt.core.CliktCommand
import com.github.ajalt.clikt.core.CliktError
import com.github.ajalt.clikt.core.Context
import com.github.ajalt.clikt.core.ProgramResult
import com.github.ajalt.clikt.core.parse
import com.github.ajalt.clikt.core.UsageError
import com.github.ajalt.clikt.core.subcommands
import com.github.ajalt.clikt.parameters.options.versionOption
import dev.strata.bench.Benches
import dev.strata.samples.Samples
import org.slf4j.LoggerFactory
import java.util.Properties
import kotlin.system.exitProcess

/** Entry point of `./strata`: exits with the status [StrataCli.run] returns. */
public fun main(args: Array<String>) {
    // kotlin-logging announces itself on stdout the first time something logs; a command's output is
    // its own (set the property to true to see which logger factory is active).
    if (System.getProperty("kotlin-logging.logStartupMessage") == null) System.setProperty("kotlin-logging.logStartupMessage", "false")
    // Bind SLF4J on this thread before any worker or cluster thread logs: threads that race its
    // initialisation make it print a "replaying intercepted calls" warning on stderr.
    LoggerFactory.getILoggerFactory()
    exitProcess(StrataCli.run(args.asList(), Console.system()))
}

/**
 * The `strata` command line: `run <sample> [args…]`, `bench <name> [args…]`, `graph <sample> [--format …]`,
 * `script <file.main.kts> [args…]`, `trace view`, `plot`, `notebook install`, `doctor [--cluster HOST:PORT]`,
 * `node (--seed | --join HOST:PORT)`.
 *
 * Exit status: what the sample or bench returned (0 for `--help`, 2 for a usage error of its options:
 * `dev.strata.samples.LaunchOptions`); 0 when `doctor` found every required check passing and 1
 * otherwise; 2 for an unknown sample or bench name and for every usage error (an unknown command or
 * option, a malformed value), 3 when `graph --format svg` finds no Graphviz; for `script`, 1 when the
 * script threw and 3 when it does not compile; 1 for any other failure (one line on stderr; the stack trace
 * with `STRATA_DEBUG=1`). `--version` prints the version (exit 0).
 */
public object StrataCli {
    /** Exit status for a name that is not in the registry. */
    public const val UNKNOWN_NAME: Int = 2

    /** Exit status of a usage error (an unknown command or option, a missing or malformed value). */
    public const val USAGE_ERROR: Int = 2

    /** This build's version (`strata --version`), from the jar; `unknown` when run from classes without it. */
    public val version: String by lazy {
        StrataCli::class.java.getResourceAsStream("version.properties")?.use { s ->
            Properties().apply { load(s) }.getProperty("version")
        } ?: "unknown"
    }

    /** Parses [argv] and runs the chosen command, writing to [console]; returns the exit status. */
    public fun run(argv: List<String>, console: Console): Int {
        val command = StrataCommand().subcommands(
            LaunchCommand(
                "run", "sample", "samples", console,
                Samples.all.map { s -> Launchable(s.name, s.description) { args, out -> s.run(args, out) } },
            ),
            LaunchCommand(
                "bench", "bench", "benches", console,
                Benches.all.map { b -> Launchable(b.name, b.description) { args, out -> b.run(args, out) } },
            ),
            GraphCommand(console, Samples.all.associate { s -> s.name to s::graph }),
            ScriptCommand(console),
            TraceCommand(console),
            PlotCommand(console),
            NotebookCommand(console),
            DoctorCommand(console, Doctor()),
            NodeCommand(console),
        )
        return try {
            command.parse(argv)
            0
        } catch (e: ProgramResult) {
            e.statusCode
        } catch (e: CliktError) {
            // Help, usage errors and the like: Clikt formats them, we choose the stream.
            command.getFormattedHelp(e)?.let { (if (e.printError) console.err else console.out).println(it) }
            if (e is UsageError) USAGE_ERROR else e.statusCode
        } catch (e: Exception) {
            // A failure no command turned into a message of its own: one line, exit 1; the stack on request.
            console.err.println("strata: ${e::class.simpleName}: ${e.message ?: "(no message)"}")
            if (System.getenv("STRATA_DEBUG") != null) e.printStackTrace(console.err) else console.err.println("(set STRATA_DEBUG=1 to see where it came from)")
            1
        } finally {
            console.out.flush()
            console.err.flush()
        }
    }
}

private class StrataCommand : CliktCommand(name = "strata") {
    init {
        versionOption(StrataCli.version, message = { "strata $it (Kotlin ${KotlinVersion.CURRENT}, JDK ${Runtime.version()})" })
    }

    override fun help(context: Context): String =
        "Strata: run samples and benchmarks on the hierarchical task runtime, and check this machine."

    override fun run() = Unit
}
