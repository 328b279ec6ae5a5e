package dev.strata.bench

import java.io.PrintStream

/** A benchmark run by `./strata bench <name>`: prints its figures as one JSON line per configuration. */
public interface Bench {
    public val name: String
    public val description: String

    /** Runs the benchmark, printing progress to stderr and JSON lines to [out]; returns the exit code. */
    public fun run(args: List<String>, out: PrintStream): Int
}

/** Every benchmark the CLI knows, by name. */
public object Benches {
    public val all: List<Bench> = listOf()

    public fun find(name: String): Bench? = all.firstOrNull { it.name == name }
}
