package dev.strata.samples

import com.github.ajalt.clikt.core.CliktCommand
import com.github.ajalt.clikt.core.CliktError
import com.github.ajalt.clikt.core.Context
import com.github.ajalt.clikt.core.parse
import com.github.ajalt.clikt.parameters.options.flag
import com.github.ajalt.clikt.parameters.options.option
import com.github.ajalt.clikt.parameters.types.path
import com.github.ajalt.mordant.terminal.Terminal
import java.io.ByteArrayOutputStream
import java.io.OutputStream
import java.io.PrintStream
import java.nio.file.Path
import dev.strata.record.TaskGraph

/** A runnable sample: `./strata run <name> [args]`. */
public interface Sample {
    /** Name on the command line. */
    public val name: String

    /** One line for listings. */
    public val description: String

    /** Runs the sample, printing to [out]; returns the process exit code (0 = PASS). */
    public fun run(args: List<String>, out: PrintStream): Int

    /**
     * The sample's main program recorded as a [dev.strata.record.TaskGraph] for `./strata graph`, with the
     * same [args] as [run]; null if the sample has none. Throws [IllegalArgumentException] for bad args.
     */
    public fun graph(args: List<String>): TaskGraph? = null
}

/** Every sample the CLI knows, by name. */
public object Samples {
    /** Every registered sample, in listing order (`java-pipeline` is written in Java, through `dev.strata.java`). */
    public val all: List<Sample> = listOf(AllreduceSample, PipelineSample, JavaPipelineSample.INSTANCE)

    /** The sample called [name], or null. */
    public fun find(name: String): Sample? = all.firstOrNull { it.name == name }
}

/**
 * The command line of a sample or a bench (`strata run <sample>`, `strata bench <name>`), through Clikt: a
 * subclass declares its options, and [parseOrStatus] parses them. `--help` prints the usage and options on
 * the command's output (exit 0); a usage error — an unknown option, a missing or malformed value, a check
 * that failed — prints the error and the usage on stderr (exit [USAGE_ERROR]), never a stack trace.
 */
public open class LaunchOptions(commandName: String, private val summary: String) : CliktCommand(commandName) {
    override fun help(context: Context): String = summary

    /** `--quiet`: print only the verdict (a sample's PASS or FAIL line; a bench's JSON lines), no progress or detail. */
    public val quiet: Boolean by option("--quiet", "-q", help = "print only the verdict: a sample's PASS/FAIL line, a bench's JSON lines (no progress, no detail)").flag()

    /** Where the command prints: [out] itself, or with `--quiet` a view of it that keeps only PASS and FAIL lines. */
    public fun output(out: PrintStream): PrintStream = if (quiet) PrintStream(VerdictLines(out), true, Charsets.UTF_8) else out

    /** Where the command reports progress in words: stderr, or nowhere with `--quiet`. */
    public val progress: PrintStream by lazy { if (quiet) PrintStream(OutputStream.nullOutputStream()) else System.err }

    /** Progress bars for long steps: on an interactive terminal, unless `--quiet` ([Progress]). */
    public val bars: Progress by lazy { if (quiet) Progress.NONE else Progress.on(Terminal()) }

    /** `--trace FILE`: where the command writes a timeline of its runs (trace-event JSON), or null. */
    public val trace: Path? by option("--trace", metavar = "FILE", help = "write a timeline of the runs to FILE (trace-event JSON: open it in ui.perfetto.dev or render it with `strata trace view`)")
        .path(canBeDir = false)

    /** Checks across options (throw [com.github.ajalt.clikt.core.UsageError]); runs after every option parsed. */
    override fun run(): Unit = Unit

    /** Parses [args]; null when the command should go on, else its exit status after printing help or the error. */
    public fun parseOrStatus(args: List<String>, out: PrintStream, err: PrintStream = System.err): Int? = try {
        parse(args)
        null
    } catch (e: CliktError) {
        getFormattedHelp(e)?.let { (if (e.printError) err else out).println(it) }
        if (e.statusCode == 0) 0 else USAGE_ERROR
    }

    /** Parses [args] for a caller that cannot print (a graph): throws [IllegalArgumentException] with the message. */
    public fun parseOrThrow(args: List<String>) {
        try {
            parse(args)
        } catch (e: CliktError) {
            val text = getFormattedHelp(e) ?: e.message ?: "bad arguments"
            // A usage error: its one line (without the usage); --help: the whole help.
            throw IllegalArgumentException(if (e.statusCode != 0 && "Error: " in text) text.substringAfterLast("Error: ").trim() else text, e)
        }
    }

    public companion object {
        /** Exit status of a usage error. */
        public const val USAGE_ERROR: Int = 2
    }
}

/** Passes to [out] only the lines that start with `PASS` or `FAIL` (a sample's verdict), whole. */
private class VerdictLines(private val out: PrintStream) : OutputStream() {
    private val line = ByteArrayOutputStream()

    override fun write(b: Int) {
        if (b == '\n'.code) {
            val text = line.toString(Charsets.UTF_8)
            if (text.startsWith("PASS") || text.startsWith("FAIL")) out.println(text)
            line.reset()
        } else {
            line.write(b)
        }
    }

    override fun flush() = out.flush()
}
