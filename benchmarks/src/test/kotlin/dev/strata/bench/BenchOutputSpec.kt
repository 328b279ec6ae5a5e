package dev.strata.bench

import io.kotest.core.spec.style.FunSpec
import io.kotest.matchers.longs.shouldBeInRange
import io.kotest.matchers.shouldBe
import io.kotest.property.Arb
import io.kotest.property.arbitrary.string
import io.kotest.property.checkAll
import kotlinx.serialization.json.Json
import kotlinx.serialization.json.JsonNull
import kotlinx.serialization.json.JsonObject
import kotlinx.serialization.json.jsonPrimitive

/** A bench's JSON line (kotlinx-serialization) and its percentiles (HdrHistogram). */
class BenchOutputSpec : FunSpec({
    test("a JSON line parses back to the same fields: strings escaped, numbers and booleans as they are, NaN as null") {
        val line = json(linkedMapOf("bench" to "x\"y\\z\n\t\u0001", "n" to 42, "rate" to 1.5, "ok" to true, "bad" to Double.NaN))
        val back = Json.parseToJsonElement(line) as JsonObject
        back.keys.toList() shouldBe listOf("bench", "n", "rate", "ok", "bad")
        back.getValue("bench").jsonPrimitive.content shouldBe "x\"y\\z\n\t\u0001"
        back.getValue("n").jsonPrimitive.content shouldBe "42"
        back.getValue("rate").jsonPrimitive.content shouldBe "1.5"
        back.getValue("ok").jsonPrimitive.content shouldBe "true"
        back.getValue("bad") shouldBe JsonNull
        line.contains('\n') shouldBe false // one line per configuration
    }

    test("property: any string value survives the JSON line") {
        checkAll(200, Arb.string(0..40)) { s ->
            (Json.parseToJsonElement(json(mapOf("v" to s))) as JsonObject).getValue("v").jsonPrimitive.content shouldBe s
        }
    }

    test("percentiles are within HdrHistogram's 0.1 % of the exact ones; min and count are exact") {
        val samples = LongArray(10_000) { (it + 1) * 1_000L } // 1 µs .. 10 ms
        val l = Latencies.of(samples.reversedArray()) // order does not matter
        l.count shouldBe 10_000
        l.min shouldBe 1_000L
        l.percentile(0.50) shouldBeInRange 4_995_000L..5_005_000L
        l.percentile(0.99) shouldBeInRange 9_890_000L..9_910_000L
        Latencies().percentile(0.5) shouldBe 0
    }
})
