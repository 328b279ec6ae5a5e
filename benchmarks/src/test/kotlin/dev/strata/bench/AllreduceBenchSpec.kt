package dev.strata.bench

import io.kotest.core.spec.style.FunSpec
import io.kotest.matchers.doubles.shouldBeGreaterThan
import io.kotest.matchers.shouldBe
import io.kotest.matchers.string.shouldContain
import java.io.ByteArrayOutputStream
import java.io.PrintStream

class AllreduceBenchSpec : FunSpec({
    test("--quick prints one JSON line per chip count with bandwidth, the memcpy floor and start-up") {
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
        }
    }

    test("an unknown option is refused with exit code 2") {
        AllreduceBench.run(listOf("--nope"), PrintStream(ByteArrayOutputStream())) shouldBe 2
    }
})
