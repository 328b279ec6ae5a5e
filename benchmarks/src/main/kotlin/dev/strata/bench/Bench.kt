package dev.strata.bench

import com.github.ajalt.clikt.core.CliktCommand
import com.github.ajalt.clikt.core.CliktError
import com.github.ajalt.clikt.core.Context
import com.github.ajalt.clikt.core.parse
import com.github.ajalt.clikt.parameters.options.flag
import com.github.ajalt.clikt.parameters.options.option
import java.io.PrintStream

/** A benchmark run by `./strata bench <name>`: prints its figures as one JSON line per configuration. */
public interface Bench {
    public val name: String
    public val description: String

    /** Runs the benchmark, printing progress to stderr and JSON lines to [out]; returns the exit code. */
    public fun run(args: List<String>, out: PrintStream): Int
}

/**
 * A bench's command line, through Clikt: `--quick` for every bench, plus what a subclass declares.
 * [parseOrStatus] prints `--help` to the bench's output (exit 0) and a usage error — an unknown option, a
 * missing or malformed value — to stderr with the usage line (exit 2), never a stack trace.
 */
internal open class BenchOptions(bench: String, private val summary: String) : CliktCommand("strata bench $bench") {
    val quick: Boolean by option("--quick", help = "a short run with small sizes (for tests and CI; figures are not comparable)").flag()

    override fun help(context: Context): String = summary

    override fun run() = Unit

    /** Parses [args]; null when the bench should run, else the exit status after printing help or the error. */
    fun parseOrStatus(args: List<String>, out: PrintStream, err: PrintStream = System.err): Int? = try {
        parse(args)
        null
    } catch (e: CliktError) {
        getFormattedHelp(e)?.let { (if (e.printError) err else out).println(it) }
        if (e.statusCode == 0) 0 else USAGE_ERROR
    }

    companion object {
        /** Exit status of a usage error. */
        const val USAGE_ERROR: Int = 2
    }
}

/** Every benchmark the CLI knows, by name. */
public object Benches {
    public val all: List<Bench> = listOf(AllreduceBench, ClusterBench, DispatchBench, MailboxBench)

    public fun find(name: String): Bench? = all.firstOrNull { it.name == name }
}

/**
 * Runs one bench without the CLI: `java -cp benchmarks/target/strata-jmh.jar dev.strata.bench.BenchMain
 * dispatch --quick`. Lists the benches when called without a name.
 */
public object BenchMain {
    @JvmStatic
    public fun main(args: Array<String>) {
        val bench = args.firstOrNull()?.let { Benches.find(it) }
        if (bench == null) {
            System.err.println("usage: BenchMain <bench> [options]; benches:")
            for (b in Benches.all) System.err.println("  ${b.name.padEnd(12)} ${b.description}")
            kotlin.system.exitProcess(if (args.isEmpty()) 0 else 2)
        }
        kotlin.system.exitProcess(bench.run(args.drop(1), System.out))
    }
}
