package dev.strata.cli

import com.github.ajalt.clikt.core.CliktError
import com.github.ajalt.clikt.core.ProgramResult
import com.github.ajalt.clikt.core.UsageError
import com.github.ajalt.clikt.core.parse
import dev.strata.samples.Samples
import io.kotest.core.spec.style.FunSpec
import io.kotest.core.test.Enabled
import io.kotest.matchers.string.shouldEndWith
import kotlin.time.Duration
import kotlin.time.Duration.Companion.seconds
import io.kotest.matchers.shouldBe
import io.kotest.matchers.string.shouldContain
import io.kotest.matchers.string.shouldStartWith
import java.io.ByteArrayOutputStream
import java.io.PrintStream
import java.nio.file.Files
import java.nio.file.attribute.PosixFilePermissions

private class Printed(val status: Int, val out: String, val err: String)

/** Runs `strata graph` with [args], SVG rendered by [dot]. */
private fun graph(vararg args: String, dot: String = "dot", renderTimeout: Duration = 60.seconds): Printed {
    val out = ByteArrayOutputStream()
    val err = ByteArrayOutputStream()
    val console = Console(PrintStream(out, true, Charsets.UTF_8), PrintStream(err, true, Charsets.UTF_8), color = false)
    val command = GraphCommand(console, Samples.all.associate { s -> s.name to s::graph }, dot, renderTimeout)
    val status = try {
        command.parse(args.toList())
        0
    } catch (e: ProgramResult) {
        e.statusCode
    } catch (e: CliktError) { // as StrataCli.run reports them
        command.getFormattedHelp(e)?.let { (if (e.printError) console.err else console.out).println(it) }
        if (e is UsageError) StrataCli.USAGE_ERROR else e.statusCode
    }
    return Printed(status, out.toString(Charsets.UTF_8), err.toString(Charsets.UTF_8))
}

private fun graphvizInstalled(): Boolean =
    System.getenv("PATH").orEmpty().split(java.io.File.pathSeparator).any { java.io.File(it, "dot").canExecute() }

class GraphCommandSpec : FunSpec({
    test("DOT by default: one node per task and the edges between them, nothing runs") {
        val r = graph("pipeline", "--size", "32", "--steps", "2", "--tiles", "2")
        r.status shouldBe 0
        r.out shouldStartWith "digraph \"pipeline\""
        r.out shouldContain "#16 band sums" // 2 steps x (4 stencils + 4 transposes), then the group
        r.out shouldContain "n4 -> n8;" // step 1's first stencil reads step 0's first transpose
    }

    test("JSON carries the parameters, every task's arguments and its predecessors") {
        val r = graph("allreduce", "--chips", "3", "--elements", "8", "--format", "json")
        r.status shouldBe 0
        r.out shouldContain "\"name\": \"allreduce\""
        r.out shouldContain "\"name\": \"data#2\""
        r.out shouldContain "\"next#2\""
    }

    test("SVG goes through Graphviz; without it the command says how to get it and exits 3") {
        val missing = graph("pipeline", "--size", "16", "--steps", "1", "--tiles", "1", "--format=svg", dot = "/nonexistent/dot")
        missing.status shouldBe GraphCommand.NO_GRAPHVIZ
        missing.err shouldContain "Graphviz '/nonexistent/dot' is not installed"
        missing.err shouldContain "--format dot"
        // A stand-in for dot that wraps its input, to check the plumbing without Graphviz on the machine.
        val fake = Files.createTempFile("fake-dot", ".sh", PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rwx------")))
        try {
            Files.writeString(fake, "#!/bin/sh\necho '<svg>'; cat; echo '</svg>'\n")
            val ok = graph("pipeline", "--size", "16", "--steps", "1", "--tiles", "1", "--format", "svg", dot = fake.toString())
            ok.status shouldBe 0
            ok.out shouldStartWith "<svg>"
            ok.out shouldContain "digraph"
        } finally {
            Files.deleteIfExists(fake)
        }
    }

    test("Graphviz that takes too long is stopped at the render timeout, and the command says what happened") {
        val slow = Files.createTempFile("slow-dot", ".sh", PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rwx------")))
        try {
            Files.writeString(slow, "#!/bin/sh\ncat > /dev/null; exec sleep 60\n")
            val started = System.nanoTime()
            val r = graph("pipeline", "--size", "16", "--steps", "1", "--tiles", "1", "--format", "svg", dot = slow.toString(), renderTimeout = 1.seconds)
            r.status shouldBe GraphCommand.NO_GRAPHVIZ
            r.err shouldContain "did not finish laying out"
            r.err shouldContain "within 1s, so it was stopped"
            ((System.nanoTime() - started) / 1_000_000_000 < 30) shouldBe true // hang guard, not a timing assertion
        } finally {
            Files.deleteIfExists(slow)
        }
    }

    test("the README's `graph pipeline --format svg` renders with the real Graphviz: the transitively reduced DAG")
        .config(enabledOrReasonIf = { if (graphvizInstalled()) Enabled.enabled else Enabled.disabled("Graphviz 'dot' is not on PATH (.ci/run installs it)") }) {
            val r = graph("pipeline", "--format", "svg")
            r.status shouldBe 0
            r.out shouldContain "<svg"
            r.out.trimEnd() shouldEndWith "</svg>"
            val (drawn, all) = Regex("""rendering \d+ tasks and (\d+) edges \(transitive reduction of (\d+)\)""").find(r.err)!!.destructured
            (drawn.toInt() < all.toInt()) shouldBe true
        }

    test("a bad format, an unknown sample and bad sample arguments are usage errors") {
        graph("pipeline", "--format", "png").let { r ->
            r.status shouldBe 2
            r.err shouldContain "invalid value for --format: invalid choice: png. (choose from dot, json, svg)"
        }
        graph("nope").let { r ->
            r.status shouldBe StrataCli.UNKNOWN_NAME
            r.err shouldContain "no such subcommand nope"
        }
        graph("pipeline", "--size", "16", "--steps", "1", "--tiles", "1", "--format=json").out shouldContain "\"name\": \"pipeline\"" // options in any order
        graph("allreduce", "--chips", "40").let { r ->
            r.status shouldBe 2
            r.err shouldContain "strata graph: allreduce: invalid value for --chips: 40 is not in the valid range of 2 to 16"
        }
    }
})
