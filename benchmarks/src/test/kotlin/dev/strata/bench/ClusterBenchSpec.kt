package dev.strata.bench

import dev.strata.process.assertNoLeftovers
import io.kotest.core.spec.style.FunSpec
import io.kotest.matchers.doubles.shouldBeGreaterThan
import io.kotest.matchers.shouldBe
import java.io.ByteArrayOutputStream
import java.io.PrintStream

class ClusterBenchSpec : FunSpec({
    afterSpec { assertNoLeftovers("ClusterBenchSpec") }

    test("--quick prints one JSON line: remote round trip, tasks/s, tensor MB/s beside the TCP floors; no node JVM left") {
        val buf = ByteArrayOutputStream()
        ClusterBench.run(listOf("--quick"), PrintStream(buf, true)) shouldBe 0
        val line = buf.toString().trim()
        line.lines().size shouldBe 1
        fun num(field: String) = Regex("\"$field\":([0-9.]+)").find(line)!!.groupValues[1].toDouble()
        for (f in listOf("rtt_1task_remote_us", "pekko_ask_rtt_us", "tasks_per_s_2_nodes", "tensor_mb_per_s", "chain_64mib_ms", "chain_64mib_results_back_ms", "handoff_64mib_ms", "handoff_64mib_results_back_ms", "tcp_rtt_floor_us", "tcp_floor_mb_per_s")) {
            num(f) shouldBeGreaterThan 0.0
        }
    }

    test("an unknown option is refused with exit code 2") {
        ClusterBench.run(listOf("--nope"), PrintStream(ByteArrayOutputStream())) shouldBe 2
    }
})
