package dev.strata.samples

import io.kotest.core.spec.style.FunSpec
import io.kotest.matchers.nulls.shouldNotBeNull
import io.kotest.matchers.shouldBe
import io.kotest.matchers.string.shouldContain
import io.kotest.matchers.string.shouldNotContain


class JavaPipelineSampleSpec : FunSpec({
    test("is registered as 'java-pipeline'") {
        Samples.find("java-pipeline") shouldBe JavaPipelineSample.INSTANCE
    }

    test("a small pipeline passes: frame 0 runs the program, later frames replay its graph") {
        val (code, out) = capture { JavaPipelineSample.INSTANCE.run(listOf("--size", "4096", "--chunks", "8", "--frames", "3"), it) }
        code shouldBe 0
        out shouldContain "4096 F32 samples in 8 chunks, 3 frames, 4 sub workers (threads)"
        out shouldContain "tasks per frame: 26"
        out shouldContain "frame 0 (program)"
        out shouldContain "frame 2 (graph replay)"
        out shouldContain "PASS: 3 frames"
    }

    test("the same pipeline passes on sub workers that are child JVMs, which are gone afterwards") {
        val (code, out) = capture { JavaPipelineSample.INSTANCE.run(listOf("--size=2048", "--chunks=5", "--frames=2", "--isolation=process"), it) }
        code shouldBe 0
        out shouldContain "4 sub workers (child JVMs)"
        out shouldContain "PASS"
        ProcessHandle.current().children().filter { it.isAlive }.count() shouldBe 0L
    }

    test("a wrong element in the engine's result is reported with its position and exit status 1") {
        val options = JavaPipelineSample.Options(256, 4, 2, dev.strata.worker.Isolation.THREAD)
        val (code, out) = capture { JavaPipelineSample.run(options, it) { energy -> energy.setFloat(100, energy.getFloat(100) + 1f) } }
        code shouldBe 1
        out shouldContain "FAIL: frame 1"
        out shouldContain "energy[100]"
        out shouldNotContain "PASS"
    }

    test("the recorded graph: one node per task, dependencies inferred from overlapping chunks and halos") {
        val g = JavaPipelineSample.INSTANCE.graph(listOf("--size", "64", "--chunks", "4")).shouldNotBeNull()
        g.size shouldBe 3 * 4 + 2
        // smooth c reads chunks c-1..c+1 of the signal (3·4 - 2 edges), energy c follows smooth c (4), the
        // band sums follow every energy task (4), the total follows the band sums (1).
        g.edgeCount shouldBe (3 * 4 - 2) + 4 + 4 + 1
        g.parameterNames shouldBe listOf("seed", "signal", "energy", "bands", "total")
    }

    test("bad options exit 2 with what is wrong and the usage on stderr; --help lists the options and exits 0") {
        val (bad, out, err) = captureAll { JavaPipelineSample.INSTANCE.run(listOf("--chunks", "many"), it) }
        bad shouldBe 2
        out shouldBe ""
        err shouldContain "invalid value for --chunks: many is not a valid integer"
        err shouldContain "Usage: strata run java-pipeline"
        val (tooMany, _, err2) = captureAll { JavaPipelineSample.INSTANCE.run(listOf("--size", "8", "--chunks=9"), it) }
        tooMany shouldBe 2
        err2 shouldContain "--chunks must be in 1..size (8), was 9"
        capture { JavaPipelineSample.INSTANCE.run(listOf("--help"), it) }.let { (code, help) ->
            code shouldBe 0
            help shouldContain "--frames"
        }
    }
})
