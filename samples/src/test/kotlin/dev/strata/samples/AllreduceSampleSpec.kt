package dev.strata.samples

import dev.strata.process.assertNoLeftovers
import dev.strata.worker.Isolation
import io.kotest.core.spec.style.FunSpec
import io.kotest.matchers.shouldBe
import io.kotest.matchers.string.shouldContain



class AllreduceSampleSpec : FunSpec({
    afterEach { assertNoLeftovers() }

    test("is registered as 'allreduce', first in the listing") {
        Samples.find("allreduce") shouldBe AllreduceSample
        Samples.all.first() shouldBe AllreduceSample
    }

    for (iso in listOf(Isolation.THREAD, Isolation.PROCESS)) {
        for (chips in listOf(2, 4, 8)) {
            test("$chips chips ($iso) sum every rank's buffer: PASS") {
                val (code, out) = capture {
                    AllreduceSample.run(AllreduceOptions(chips = chips, elements = 4099, iterations = 2, isolation = iso), it)
                }
                out shouldContain "PASS"
                out shouldContain "$chips chips"
                out shouldContain "GB/s"
                code shouldBe 0
            }
        }
    }

    test("a wrong element is reported with its rank, index and expected value, and exits 1") {
        val (code, out) = capture {
            AllreduceSample.run(AllreduceOptions(chips = 2, elements = 64, iterations = 1, isolation = Isolation.THREAD), it) { t -> t.setInt(5, -1) }
        }
        code shouldBe 1
        out shouldContain "FAIL: rank 0 element 5 is -1, expected 110 (= 2·5 + 100)"
    }

    test("bad options are usage errors") {
        val (code, out) = capture { AllreduceSample.run(listOf("--chips", "17"), it) }
        code shouldBe 2
        out shouldContain "--chips must be in 2..16"
        capture { AllreduceSample.run(listOf("--help"), it) }.second shouldContain "usage: strata run allreduce"
    }
})
