package dev.strata.bench

import io.kotest.core.spec.style.FunSpec
import io.kotest.matchers.doubles.plusOrMinus
import io.kotest.matchers.doubles.shouldBeGreaterThan
import io.kotest.matchers.shouldBe
import io.kotest.matchers.string.shouldContain
import java.io.ByteArrayOutputStream
import java.io.PrintStream

class CompareBenchSpec : FunSpec({
    test("--quick prints a line per round and a summary with Strata, the JVM floor and the ratios; Dask left out with the reason") {
        val buf = ByteArrayOutputStream()
        CompareBench.run(listOf("--quick", "--rounds", "2", "--no-dask"), PrintStream(buf, true)) shouldBe 0
        val lines = buf.toString().trim().lines()
        lines.size shouldBe 3
        lines[0] shouldContain "\"round\":1"
        val summary = lines[2]
        fun num(field: String) = Regex("\"$field\":([0-9.E]+)").find(summary)?.groupValues?.get(1)?.toDouble() ?: error("$field missing in $summary")
        for (f in listOf(
            "strata_run_1task_us", "strata_run_1task_process_us", "strata_chain_tasks_per_s", "strata_independent_tasks_per_s",
            "floor_tpe_1task_us", "floor_spin_handoff_us", "floor_cf_chain_tasks_per_s", "floor_tpe_independent_tasks_per_s",
            "ratio_1task_to_tpe", "ratio_chain_to_cf", "ratio_independent_to_tpe",
        )) num(f) shouldBeGreaterThan 0.0
        num("ratio_chain_to_cf") shouldBe (num("strata_chain_tasks_per_s") / num("floor_cf_chain_tasks_per_s") plusOrMinus 0.01)
        summary shouldContain "\"dask\":\"left out (--no-dask)\""
    }

    val daskMissing: String? = CompareBench.Dask.probe().let { (why, version) -> if (version == null) why else null }
    test("with Dask installed (Debian's python3-dask), --quick measures it too and prints the ratios to it").config(
        enabledOrReasonIf = { if (daskMissing == null) io.kotest.core.test.Enabled.enabled else io.kotest.core.test.Enabled.disabled(daskMissing) },
    ) {
        val buf = ByteArrayOutputStream()
        CompareBench.run(listOf("--quick", "--rounds", "1"), PrintStream(buf, true)) shouldBe 0
        val summary = buf.toString().trim().lines().last()
        fun num(field: String) = Regex("\"$field\":([0-9.E]+)").find(summary)?.groupValues?.get(1)?.toDouble() ?: error("$field missing in $summary")
        for (f in listOf("dask_1task_us", "dask_chain_tasks_per_s", "dask_independent_tasks_per_s", "ratio_1task_to_dask", "ratio_chain_to_dask")) {
            num(f) shouldBeGreaterThan 0.0
        }
        summary shouldContain "\"dask_version\""
    }

    test("is listed with the other benches; an unknown option exits 2") {
        Benches.find("compare") shouldBe CompareBench
        CompareBench.run(listOf("--nope"), PrintStream(ByteArrayOutputStream())) shouldBe 2
    }
})
