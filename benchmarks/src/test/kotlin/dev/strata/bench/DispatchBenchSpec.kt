package dev.strata.bench

import io.kotest.core.spec.style.FunSpec
import io.kotest.matchers.collections.shouldHaveSize
import io.kotest.matchers.doubles.shouldBeGreaterThan
import io.kotest.matchers.nulls.shouldNotBeNull
import io.kotest.matchers.shouldBe
import io.kotest.matchers.string.shouldStartWith
import java.io.ByteArrayOutputStream
import java.io.PrintStream

/** Runs `dispatch --quick` and checks its JSON line; never asserts on performance (DESIGN.md §10). */
class DispatchBenchSpec : FunSpec({
    fun runBench(vararg args: String): Pair<Int, List<String>> {
        val bytes = ByteArrayOutputStream()
        val rc = PrintStream(bytes, true, Charsets.UTF_8).use { Benches.find("dispatch")!!.run(args.toList(), it) }
        return rc to bytes.toString(Charsets.UTF_8).lines().filter { it.isNotBlank() }
    }

    /** The value of a top-level number field of a flat JSON object, or null. */
    fun number(json: String, field: String): Double? =
        Regex("\"${Regex.escape(field)}\":(-?[0-9][0-9.eE+-]*)").find(json)?.groupValues?.get(1)?.toDouble()

    fun string(json: String, field: String): String? =
        Regex("\"${Regex.escape(field)}\":\"([^\"]*)\"").find(json)?.groupValues?.get(1)

    test("dispatch is registered") {
        Benches.find("dispatch").shouldNotBeNull().name shouldBe "dispatch"
    }

    test("dispatch --quick prints one JSON line with every figure positive") {
        val (rc, lines) = runBench("--quick", "--workers", "2")
        rc shouldBe 0
        lines shouldHaveSize 1
        val json = lines.single()
        json shouldStartWith "{"
        for (field in listOf(
            "run_1task_us", "run_1task_p90_us", "run_1task_p99_us",
            "tasks_per_s_independent", "tasks_per_s_independent_noargs", "tasks_per_s_independent_slices",
            "tasks_per_s_chain", "tasks_per_s_deps2", "submit_ns_chain", "exec_tasks_per_s_chain",
            "submit_ns_deps2", "exec_tasks_per_s_deps2", "graph_replay_tasks_per_s", "cores",
        )) {
            number(json, field).shouldNotBeNull() shouldBeGreaterThan 0.0
        }
        number(json, "workers") shouldBe 2.0
        string(json, "jdk").shouldNotBeNull()
        string(json, "date").shouldNotBeNull()
    }

    test("--only measures just the named workloads") {
        val (rc, lines) = runBench("--quick", "--only", "chain")
        rc shouldBe 0
        val json = lines.single()
        number(json, "tasks_per_s_chain").shouldNotBeNull() shouldBeGreaterThan 0.0
        number(json, "run_1task_us") shouldBe null
    }

    test("bad options are refused with exit code 2") {
        runBench("--workers", "zero").first shouldBe 2
        runBench("--bogus").first shouldBe 2
        runBench("--only", "nothing").first shouldBe 2
    }
})
