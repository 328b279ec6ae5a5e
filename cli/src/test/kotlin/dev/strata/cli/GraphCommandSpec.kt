package dev.strata.cli

import com.github.ajalt.clikt.core.ProgramResult
import com.github.ajalt.clikt.core.parse
import dev.strata.samples.Samples
import io.kotest.core.spec.style.FunSpec
import io.kotest.matchers.shouldBe
import io.kotest.matchers.string.shouldContain
import io.kotest.matchers.string.shouldStartWith
import java.io.ByteArrayOutputStream
import java.io.PrintStream
import java.nio.file.Files
import java.nio.file.attribute.PosixFilePermissions

private class Printed(val status: Int, val out: String, val err: String)

/** Runs `strata graph` with [args], SVG rendered by [dot]. */
private fun graph(vararg args: String, dot: String = "dot"): Printed {
    val out = ByteArrayOutputStream()
    val err = ByteArrayOutputStream()
    val console = Console(PrintStream(out, true, Charsets.UTF_8), PrintStream(err, true, Charsets.UTF_8), color = false)
    val status = try {
        GraphCommand(console, Samples.all.associate { s -> s.name to s::graph }, dot).parse(args.toList())
        0
    } catch (e: ProgramResult) {
        e.statusCode
    }
    return Printed(status, out.toString(Charsets.UTF_8), err.toString(Charsets.UTF_8))
}

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

    test("a bad format, an unknown sample and bad sample arguments are usage errors") {
        graph("pipeline", "--format", "png").err shouldContain "--format is dot, json or svg"
        graph("nope").status shouldBe StrataCli.UNKNOWN_NAME
        graph("allreduce", "--chips", "40").err shouldContain "--chips must be in 2..16"
    }
})
