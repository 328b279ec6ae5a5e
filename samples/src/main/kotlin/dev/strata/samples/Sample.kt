package dev.strata.samples

import java.io.PrintStream
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
 * Parses [args] with [parse] and runs [body]: `--help` (parse returns null) prints [usage] and exits 0;
 * a bad option ([IllegalArgumentException]) prints what is wrong and [usage] and exits 2.
 */
internal inline fun <O : Any> runWithOptions(
    sample: String,
    usage: String,
    args: List<String>,
    out: PrintStream,
    parse: (List<String>) -> O?,
    body: (O) -> Int,
): Int {
    val options = try {
        parse(args) ?: return 0.also { out.println(usage) }
    } catch (e: IllegalArgumentException) {
        out.println("$sample: ${e.message}")
        out.println(usage)
        return 2
    }
    return body(options)
}
