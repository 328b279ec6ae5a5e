package dev.strata.cli

import io.kotest.core.spec.style.FunSpec
import io.kotest.matchers.shouldBe
import io.kotest.matchers.string.shouldContain
import io.kotest.matchers.string.shouldNotContain
import java.io.ByteArrayOutputStream
import java.io.PrintStream

class StrataCliSpec : FunSpec({
    test("an unknown sample exits 2 and lists the valid ones") {
        val r = strata("run", "nope")
        r.status shouldBe 2
        r.err shouldContain "unknown sample 'nope'"
        r.err shouldContain "pipeline"
    }

    test("run without a name exits 2 and lists the samples") {
        val r = strata("run")
        r.status shouldBe 2
        r.err shouldContain "pipeline"
    }

    test("a bench's --help reaches the bench (exit 0); a bad bench option exits 2 without running it") {
        val help = strata("bench", "allreduce", "--help")
        help.status shouldBe 0
        help.out shouldContain "Usage: strata bench allreduce"
        help.out shouldContain "--chips"
        strata("bench", "allreduce", "--chips").status shouldBe 2 // was: Index 1 out of bounds for length 1
        strata("bench", "dispatch", "--help").out shouldContain "--only"
    }

    test("graph <sample> --help prints the sample's options, not a graph; a bad sample option exits 2") {
        val help = strata("graph", "pipeline", "--help")
        help.status shouldBe 0
        help.out shouldContain "Usage: strata graph pipeline"
        help.out shouldContain "--steps"
        help.out shouldNotContain "digraph"
        val bad = strata("graph", "pipeline", "--size", "big")
        bad.status shouldBe 2
        bad.err shouldContain "big is not a valid integer"
    }

    test("an unknown bench exits 2 and says which benches exist") {
        val r = strata("bench", "nope")
        r.status shouldBe 2
        r.err shouldContain "unknown bench 'nope'"
        r.err shouldContain "Available benches:"
    }

    test("options after the sample name reach the sample untouched") {
        val r = strata("run", "pipeline", "--size", "32", "--steps", "2", "--tiles", "4")
        r.status shouldBe 0
        r.out shouldContain "32x32"
        r.out shouldContain "PASS"
    }

    test("run <sample> --trace FILE writes a valid timeline of the measured run and prints the run's summary line") {
        val dir = kotlin.io.path.createTempDirectory("strata-cli-trace")
        try {
            val file = dir.resolve("pipeline.json")
            val r = strata("run", "pipeline", "--size", "32", "--steps", "2", "--tiles", "4", "--trace", file.toString())
            r.status shouldBe 0
            r.out shouldContain Regex("""run #\d+: 65 tasks \(65 completed\) in \d+\.\d ms""")
            val trace = dev.strata.trace.TraceFile.read(file)
            trace.problems() shouldBe emptyList()
            trace.traceEvents.count { it.ph == "X" } shouldBe 2 * 2 * 16 + 4 // tile tasks, plus the band sums
        } finally {
            dir.toFile().deleteRecursively()
        }
    }

    test("bench --trace: a bench with a worker writes the file; one without says so (exit 2)") {
        val dir = kotlin.io.path.createTempDirectory("strata-bench-trace")
        try {
            val file = dir.resolve("dispatch.json")
            val r = strata("bench", "dispatch", "--quick", "--only", "chain", "--trace", file.toString())
            r.status shouldBe 0
            val trace = dev.strata.trace.TraceFile.read(file)
            trace.problems() shouldBe emptyList()
            (trace.traceEvents.count { it.ph == "X" } > 1000) shouldBe true
            val mailbox = strata("bench", "mailbox", "--trace", dir.resolve("m.json").toString())
            mailbox.status shouldBe 2
            java.nio.file.Files.exists(dir.resolve("m.json")) shouldBe false
        } finally {
            dir.toFile().deleteRecursively()
        }
    }

    test("--quiet: a sample prints its verdict line only; a bench its JSON line, with no progress on stderr") {
        val r = strata("run", "pipeline", "--size", "32", "--steps", "2", "--tiles", "4", "--quiet")
        r.status shouldBe 0
        r.out.lines().filter { it.isNotEmpty() }.single() shouldContain "PASS: 1024 elements"
        val stderr = ByteArrayOutputStream()
        val saved = System.err
        System.setErr(PrintStream(stderr, true, Charsets.UTF_8))
        val bench = try {
            strata("bench", "dispatch", "--quick", "--only", "latency", "--quiet")
        } finally {
            System.setErr(saved)
        }
        bench.status shouldBe 0
        bench.out.lines().filter { it.isNotEmpty() }.single() shouldContain "\"run_1task_us\""
        stderr.toString(Charsets.UTF_8) shouldBe ""
    }

    test("a sample's own exit status becomes the CLI's") {
        val r = strata("run", "pipeline", "--size", "not-a-number")
        r.status shouldBe 2 // the usage error itself goes to the process's stderr (PipelineSampleSpec reads it)
        r.out shouldBe ""
    }

    test("run --help describes the command and lists the samples") {
        val r = strata("run", "--help")
        r.status shouldBe 0
        r.out shouldContain "Available samples: allreduce, pipeline"
    }

    test("an unknown command or option is a usage error: exit 2, the error on stderr, no stack trace") {
        val r = strata("frobnicate")
        r.status shouldBe 2
        r.err shouldContain "frobnicate"
        r.out shouldBe ""
        val bad = strata("doctor", "--no-such-option")
        bad.status shouldBe 2
        bad.err shouldContain "--no-such-option"
        bad.err shouldNotContain "\tat "
    }

    test("--version prints the build's version, Kotlin's and the JDK's (exit 0)") {
        val r = strata("--version")
        r.status shouldBe 0
        r.out shouldContain "strata 0.1.0-SNAPSHOT"
        r.out shouldContain "JDK ${Runtime.version().feature()}"
    }

    test("doctor reports the JDK and passes on the build machine") {
        val r = strata("doctor")
        r.status shouldBe 0
        r.out shouldContain "JDK"
        r.out shouldContain System.getProperty("java.home")
        r.out shouldContain "native access works: getpid() = ${ProcessHandle.current().pid()}"
        r.out shouldContain "chip sim"
        r.out shouldContain "all required checks passed"
        r.out shouldNotContain "\u001b[" // plain text when not coloring
    }
})
