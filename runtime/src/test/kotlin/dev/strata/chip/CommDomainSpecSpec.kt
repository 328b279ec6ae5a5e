package dev.strata.chip

import dev.strata.chip.sim.SimCommDomain
import dev.strata.error.InvalidConfigException
import dev.strata.tensor.DType
import io.kotest.assertions.throwables.shouldThrow
import io.kotest.core.spec.style.FunSpec
import io.kotest.matchers.collections.shouldHaveSize
import io.kotest.matchers.shouldBe
import io.kotest.matchers.string.shouldContain
import java.lang.foreign.ValueLayout

class CommDomainSpecSpec : FunSpec({
    test("buffers are carved from the start of the window in declaration order, 64-byte aligned") {
        val spec = CommDomainSpec(
            "ar", listOf(0, 1, 2, 3), 4096,
            listOf(CommBufferSpec("input", DType.F32, 10), CommBufferSpec("output", DType.F32, 10), CommBufferSpec("flag", DType.I32, 1)),
        ).validate(chipCount = 4)
        spec.offsets shouldBe mapOf("input" to 0L, "output" to 64L, "flag" to 128L)
        spec.usedBytes shouldBe 192
    }

    test("every problem is reported at once, before any device work") {
        val e = shouldThrow<InvalidConfigException> {
            CommDomainSpec(
                "big", listOf(0, 5, 5), 100,
                listOf(CommBufferSpec("a", DType.F64, 10), CommBufferSpec("a", DType.U8, 1), CommBufferSpec("z", DType.U8, 0)),
            ).validate(chipCount = 4)
        }
        e.problems shouldHaveSize 4
        e.message!! shouldContain "lists a chip twice"
        e.message!! shouldContain "names chip 5; this worker has chips 0 until 4"
        e.message!! shouldContain "declares buffer(s) [a] more than once"
        e.message!! shouldContain "buffer 'z' of domain 'big' needs count > 0"
        val tooBig = shouldThrow<InvalidConfigException> {
            CommDomainSpec("small", listOf(0, 1), 100, listOf(CommBufferSpec("x", DType.F32, 100))).validate(2)
        }
        tooBig.message!! shouldContain "need 448 B (x 400 B, each aligned to 64 B) but the window has 100 B; raise windowBytes"
    }

    test("a sim domain hands each rank the named buffers of its own and its peers' windows") {
        val spec = CommDomainSpec("ar", listOf(0, 1), 1024, listOf(CommBufferSpec("x", DType.I64, 4), CommBufferSpec("y", DType.I64, 4)))
        SimCommDomain.create("ar", ranks = 2, windowBytes = spec.windowBytes, rank = 0).use { r0 ->
            SimCommDomain.open("ar", r0.path, rank = 1).use { r1 ->
                r1.buffers(spec)["y"]!!.set(ValueLayout.JAVA_LONG, 8, 42)
                r0.buffers(spec, r = 1)["y"]!!.get(ValueLayout.JAVA_LONG, 8) shouldBe 42 // a remote view
                r0.buffers(spec)["y"]!!.get(ValueLayout.JAVA_LONG, 8) shouldBe 0 // its own window
            }
        }
    }
})
