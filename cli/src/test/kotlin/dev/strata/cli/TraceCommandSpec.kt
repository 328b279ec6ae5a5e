package dev.strata.cli

import dev.strata.task.TaskArgs
import dev.strata.task.Target
import dev.strata.worker.Worker
import dev.strata.worker.WorkerConfig
import io.kotest.core.spec.style.FunSpec
import io.kotest.engine.spec.tempdir
import io.kotest.matchers.ints.shouldBeGreaterThanOrEqual
import io.kotest.matchers.shouldBe
import io.kotest.matchers.string.shouldContain
import io.kotest.matchers.string.shouldNotContain
import java.nio.file.Files

/** `strata trace view FILE --svg OUT`: a trace's swimlanes as an SVG picture (lets-plot). */
class TraceCommandSpec : FunSpec({
    test("trace view draws one bar per task span on one lane per track, and says what it drew") {
        val dir = tempdir().toPath()
        val trace = dir.resolve("run.json")
        Worker(WorkerConfig(subWorkers = 2, trace = trace, name = "TV")).use { w ->
            w.run { repeat(6) { k -> submit(Target.Sub, { Thread.sleep(1) }, TaskArgs.EMPTY, "step$k") } }
        }
        val svg = dir.resolve("pictures/run.svg")
        val r = strata("trace", "view", trace.toString(), "--svg", svg.toString())
        r.err shouldBe ""
        r.status shouldBe 0
        r.out shouldContain "6 spans on"
        val text = Files.readString(svg)
        text shouldContain "<svg"
        text shouldContain "TV · TV sub#"
        Regex("<rect").findAll(text).count() shouldBeGreaterThanOrEqual 6
    }

    test("a file that is not a trace, or one without spans: exit 1 with one line, no stack trace, no picture") {
        val dir = tempdir().toPath()
        val notTrace = Files.writeString(dir.resolve("x.json"), "{\"hello\": 1}")
        val out = dir.resolve("x.svg")
        val r = strata("trace", "view", notTrace.toString(), "--svg", out.toString())
        r.status shouldBe 1
        r.err shouldContain "is not a trace file"
        r.err shouldNotContain "\tat "
        Files.exists(out) shouldBe false
        val empty = Files.writeString(dir.resolve("empty.json"), "{\"traceEvents\": []}")
        val e = strata("trace", "view", empty.toString(), "--svg", out.toString())
        e.status shouldBe 1
        e.err shouldContain "no task spans"
    }

    test("usage errors: a missing file or a missing --svg exit 2; --help lists the options") {
        strata("trace", "view", "/nonexistent.json", "--svg", "/tmp/x.svg").status shouldBe 2
        val dir = tempdir().toPath()
        val f = Files.writeString(dir.resolve("t.json"), "{\"traceEvents\": []}")
        strata("trace", "view", f.toString()).status shouldBe 2
        val help = strata("trace", "view", "--help")
        help.status shouldBe 0
        help.out shouldContain "--svg"
        strata("trace", "--help").out shouldContain "view"
    }
})

/** `strata plot FILE --x F --y F,… --svg OUT`: bench JSON lines as a bar chart. */
class PlotCommandSpec : FunSpec({
    test("bench JSON lines become a bar chart: a bar per line and field") {
        val dir = tempdir().toPath()
        val lines = Files.writeString(
            dir.resolve("a.jsonl"),
            """{"bench":"allreduce","chips":2,"gbps":1.5,"memcpy_gbps":6.0}
               |{"bench":"allreduce","chips":4,"gbps":1.1,"memcpy_gbps":6.1}
               |""".trimMargin(),
        )
        val svg = dir.resolve("a.svg")
        val r = strata("plot", lines.toString(), "--x", "chips", "--y", "gbps,memcpy_gbps", "--svg", svg.toString())
        r.err shouldBe ""
        r.status shouldBe 0
        r.out shouldContain "4 bars"
        val text = Files.readString(svg)
        text shouldContain "<svg"
        text shouldContain "memcpy_gbps"
    }

    test("a line without the field, or not JSON: exit 1 naming the line and the fields it has") {
        val dir = tempdir().toPath()
        val lines = Files.writeString(dir.resolve("b.jsonl"), "{\"bench\":\"x\",\"rate\":1}\n")
        val r = strata("plot", lines.toString(), "--y", "gbps", "--svg", dir.resolve("b.svg").toString())
        r.status shouldBe 1
        r.err shouldContain "line 1"
        r.err shouldContain "no numeric field 'gbps' (fields: bench, rate)"
        val bad = Files.writeString(dir.resolve("c.jsonl"), "dispatch: warm-up\n")
        strata("plot", bad.toString(), "--y", "gbps", "--svg", dir.resolve("c.svg").toString()).err shouldContain "not a JSON object"
        strata("plot", bad.toString(), "--svg", dir.resolve("c.svg").toString()).status shouldBe 2 // --y is required
    }
})
