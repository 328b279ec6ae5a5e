package dev.strata.bench

import io.kotest.core.spec.style.FunSpec
import io.kotest.matchers.doubles.shouldBeGreaterThan
import io.kotest.matchers.shouldBe
import io.kotest.matchers.doubles.plusOrMinus
import io.kotest.matchers.string.shouldContain
import io.kotest.matchers.string.shouldNotContain
import java.io.ByteArrayOutputStream
import java.io.PrintStream

class AllreduceBenchSpec : FunSpec({
    test("--quick prints one JSON line per chip count with bandwidth, the plain-thread baseline, the efficiency and start-up") {
        val buf = ByteArrayOutputStream()
        AllreduceBench.run(listOf("--quick", "--chips", "2,3", "--isolation", "thread"), PrintStream(buf, true)) shouldBe 0
        val lines = buf.toString().trim().lines()
        lines.size shouldBe 2
        for ((line, n) in lines.zip(listOf(2, 3))) {
            line shouldContain "\"chips\":$n"
            fun num(field: String) = Regex("\"$field\":([0-9.]+)").find(line)!!.groupValues[1].toDouble()
            num("bytes_per_rank") shouldBe 65536.0
            num("gbps") shouldBeGreaterThan 0.0
            num("memcpy_gbps") shouldBeGreaterThan 0.0
            num("startup_ms") shouldBeGreaterThan 0.0
            num("plain_ms") shouldBeGreaterThan 0.0
            num("plain_threads") shouldBeGreaterThan 0.0
            num("allreduce_efficiency") shouldBe (num("plain_ms") / num("run_ms") plusOrMinus 0.01)
            line shouldNotContain "\"ratio\""
        }
    }

    test("the plain-thread baseline computes the allreduce (one thread per rank and fewer threads than ranks)") {
        for (threads in listOf(5, 2, 1)) {
            PlainAllreduce(5, 1001, threads).use { p ->
                repeat(2) { p.iterate() shouldBeGreaterThan 0.0 }
                p.correct() shouldBe true
            }
        }
    }

    test("an unknown option is refused with exit code 2") {
        AllreduceBench.run(listOf("--nope"), PrintStream(ByteArrayOutputStream())) shouldBe 2
    }
})
