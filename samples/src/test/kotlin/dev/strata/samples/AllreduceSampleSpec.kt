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
                out shouldContain "$chips sim chips"
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

/** The ACL emulator (native-bindings) and the sample's C kernels, or why `--driver acl` cannot run here. */
private val aclMissing: String? = run {
    val home = System.getenv("ASCEND_HOME_PATH")
    when {
        home == null || !java.io.File(home, "lib64/libascendcl.so").isFile -> "the ACL emulator is not built (gcc missing?): ASCEND_HOME_PATH=$home"
        else -> runCatching { AllreduceKernelFiles.aclKernels() }.exceptionOrNull()?.message
    }
}

/** `--driver acl` on the emulator: the C kernel and HcclAllReduce give, bit for bit, what the sim driver gives. */
class AllreduceAclSampleSpec : FunSpec({
    afterEach { assertNoLeftovers() }
    val needsAcl: (io.kotest.core.test.TestCase) -> io.kotest.core.test.Enabled = {
        if (aclMissing == null) io.kotest.core.test.Enabled.enabled else io.kotest.core.test.Enabled.disabled(aclMissing)
    }

    for (chips in listOf(2, 4)) {
        test("--driver acl on $chips chips: PASS, and every rank's bits equal the sim driver's").config(enabledOrReasonIf = needsAcl) {
            val (code, out) = capture { AllreduceSample.run(listOf("--driver", "acl", "--chips", "$chips", "--elements", "70001", "--iterations", "2"), it) }
            out shouldContain "PASS"
            out shouldContain "$chips acl chips"
            code shouldBe 0
            val m = 70_001L
            val results = listOf("sim", "acl").associateWith { d ->
                AllreduceSample.open(AllreduceOptions(chips = chips, elements = m, driver = d)).use { w ->
                    AllreduceJob(w, chips, m, d).also { it.iterate() }.readBack().map { t -> IntArray(m.toInt()) { t.getInt(it.toLong()) } }
                }
            }
            for (r in 0 until chips) results.getValue("acl")[r].contentEquals(results.getValue("sim")[r]) shouldBe true
        }
    }

    test("--driver is sim or acl") {
        val (code, out) = capture { AllreduceSample.run(listOf("--driver", "cuda"), it) }
        code shouldBe 2
        out shouldContain "--driver is sim or acl, was 'cuda'"
    }
})
