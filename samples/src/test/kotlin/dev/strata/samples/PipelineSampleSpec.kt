package dev.strata.samples

import io.kotest.core.spec.style.FunSpec
import io.kotest.matchers.nulls.shouldBeNull
import io.kotest.matchers.nulls.shouldNotBeNull
import io.kotest.matchers.shouldBe
import io.kotest.matchers.string.shouldContain
import io.kotest.matchers.string.shouldNotContain


class PipelineSampleSpec : FunSpec({
    test("is registered as 'pipeline'") {
        Samples.find("pipeline") shouldBe PipelineSample
    }

    test("a small pipeline passes and reports its tasks, stages and workers") {
        val (code, out) = capture { PipelineSample.run(listOf("--size", "64", "--steps", "3"), it) }
        code shouldBe 0
        out shouldContain "PASS"
        out shouldContain "64x64"
        out shouldContain "4 sub workers"
        out shouldContain "tasks: 385" // 2 stages x 3 steps x 8x8 tiles + the band-sum group
    }

    test("the same pipeline passes on sub workers that are child JVMs") {
        val (code, out) = capture { PipelineSample.run(listOf("--size", "64", "--steps", "3", "--isolation", "process"), it) }
        code shouldBe 0
        out shouldContain "4 sub workers (child JVMs)"
        out shouldContain "PASS"
        ProcessHandle.current().children().filter { it.isAlive }.count() shouldBe 0L
    }

    test("uneven tiles and an odd step count pass too") {
        val (code, out) = capture { PipelineSample.run(listOf("--size=37", "--steps=5", "--tiles=6"), it) }
        code shouldBe 0
        out shouldContain "PASS"
    }

    test("a grid that differs in one element is reported with its coordinates and both values") {
        val expected = PipelineStages.sequential(16, 2).grid
        val actual = expected.copyOf().also { it[5 * 16 + 7] = Math.nextUp(it[5 * 16 + 7]) }
        GridMismatch.first("grid", expected, expected.copyOf(), 16).shouldBeNull()
        val m = GridMismatch.first("grid", expected, actual, 16).shouldNotBeNull()
        m.row shouldBe 5
        m.col shouldBe 7
        m.expected shouldBe expected[5 * 16 + 7]
        m.actual shouldBe actual[5 * 16 + 7]
    }

    test("the comparison is bit-exact: -0.0 differs from 0.0") {
        GridMismatch.first("grid", floatArrayOf(0f), floatArrayOf(-0f), 1).shouldNotBeNull()
    }

    test("a broken engine result fails the sample with the first differing element") {
        val (code, out) = capture { stream ->
            PipelineSample.run(PipelineOptions(size = 32, steps = 2, tiles = 4), stream) { grid ->
                grid.setFloat(3, 9, grid.getFloat(3, 9) + 1f)
            }
        }
        code shouldBe 1
        out shouldContain "FAIL"
        out shouldContain "grid[3, 9]"
        out shouldNotContain "PASS"
    }

    test("bad arguments print the error and the usage on stderr and return 2; --help exits 0") {
        val (code, out, err) = captureAll { PipelineSample.run(listOf("--size", "big"), it) }
        code shouldBe 2
        out shouldBe ""
        err shouldContain "invalid value for --size: big is not a valid integer"
        err shouldContain "Usage: strata run pipeline"
        captureAll { PipelineSample.run(listOf("--frobnicate"), it) }.let { (c, _, e) -> c shouldBe 2; e shouldContain "no such option --frobnicate" }
        val (badIsolation, _, text) = captureAll { PipelineSample.run(listOf("--isolation", "fork"), it) }
        badIsolation shouldBe 2
        text shouldContain "invalid choice: fork. (choose from thread, process)"
        captureAll { PipelineSample.run(listOf("--size=32", "--tiles=64"), it) }.third shouldContain "--tiles must be in 1..size (32), was 64"
        capture { PipelineSample.run(listOf("--help"), it) }.let { (c, o) -> c shouldBe 0; o shouldContain "--steps" }
    }
})
