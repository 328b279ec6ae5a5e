package dev.strata.bench

import dev.strata.samples.LaunchOptions
import com.github.ajalt.clikt.core.UsageError
import com.github.ajalt.clikt.parameters.options.flag
import com.github.ajalt.clikt.parameters.options.option
import java.io.PrintStream
import java.nio.file.Path

/** A benchmark run by `./strata bench <name>`: prints its figures as one JSON line per configuration. */
public interface Bench {
    public val name: String
    public val description: String

    /** Runs the benchmark, printing progress to stderr and JSON lines to [out]; returns the exit code. */
    public fun run(args: List<String>, out: PrintStream): Int
}

/**
 * Warms a path up: runs [body] [count] times, then on until [millis] have passed since it began. The JIT
 * needs seconds, not a count of runs, to compile a whole path; what is timed right after must be that path.
 */
internal inline fun warmUp(millis: Long, count: Int = 0, body: () -> Unit) {
    val until = System.nanoTime() + millis * 1_000_000
    repeat(count) { body() }
    while (System.nanoTime() - until < 0) body()
}

/**
 * A bench's command line ([LaunchOptions]): `--quick` and `--trace` for every bench, plus what a subclass
 * declares. A bench that runs no worker ([tracesRuns] false) refuses `--trace` as a usage error.
 */
internal open class BenchOptions(bench: String, summary: String, private val tracesRuns: Boolean = true) : LaunchOptions("strata bench $bench", summary) {
    val quick: Boolean by option("--quick", help = "a short run with small sizes (for tests and CI; figures are not comparable)").flag()

    override fun run() {
        if (!tracesRuns && trace != null) throw UsageError("--trace: this bench runs no worker, so there is no timeline to write")
    }

    /**
     * Where the worker of one configuration ([label]) writes its trace: `--trace FILE` itself when the bench
     * measures one configuration, else FILE with `-label` before its extension (one file per worker).
     */
    fun traceFor(label: String, configurations: Int): Path? {
        val file = trace ?: return null
        if (configurations <= 1) return file
        val name = file.fileName.toString()
        val dot = name.lastIndexOf('.').takeIf { it > 0 } ?: name.length
        return file.resolveSibling(name.substring(0, dot) + "-" + label + name.substring(dot))
    }
}

/** Every benchmark the CLI knows, by name. */
public object Benches {
    public val all: List<Bench> = listOf(AllreduceBench, ClusterBench, CompareBench, DispatchBench, MailboxBench)

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
