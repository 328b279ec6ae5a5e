package dev.strata.bench

import io.kotest.core.spec.style.FunSpec
import io.kotest.matchers.shouldBe
import io.kotest.matchers.string.shouldContain
import io.kotest.matchers.string.shouldNotContain
import java.io.ByteArrayOutputStream
import java.io.PrintStream

/** Runs [bench] with [args], capturing its output and stderr (where usage errors go). */
private fun runCaptured(bench: Bench, vararg args: String): Triple<Int, String, String> {
    val out = ByteArrayOutputStream()
    val err = ByteArrayOutputStream()
    val realErr = System.err
    System.setErr(PrintStream(err, true, Charsets.UTF_8))
    val status = try {
        bench.run(args.toList(), PrintStream(out, true, Charsets.UTF_8))
    } finally {
        System.setErr(realErr)
    }
    return Triple(status, out.toString(Charsets.UTF_8), err.toString(Charsets.UTF_8))
}

/** Every bench's options go through Clikt (issue 16): `--help`, usage errors on stderr with exit 2, no stack traces. */
class BenchOptionsSpec : FunSpec({
    test("--help prints the bench's usage and options on its output and exits 0, for every bench") {
        for (bench in Benches.all) {
            val (status, out, _) = runCaptured(bench, "--help")
            status shouldBe 0
            out shouldContain "Usage: strata bench ${bench.name}"
            out shouldContain "--quick"
        }
        runCaptured(AllreduceBench, "--help").second shouldContain "--isolation"
        runCaptured(DispatchBench, "--help").second shouldContain "--warmup-ms"
    }

    test("a usage error names the option and the problem on stderr and exits 2; nothing is measured, no stack trace") {
        val cases = listOf(
            arrayOf("--chips") to "--chips", // was: Index 1 out of bounds for length 1
            arrayOf("--chips", "1,4") to "chip counts are 2..16",
            arrayOf("--chips", "four") to "four",
            arrayOf("--isolation", "fibre") to "fibre",
            arrayOf("--elements", "8") to "--elements",
            arrayOf("--nope") to "--nope",
        )
        for ((args, expected) in cases) {
            val (status, out, err) = runCaptured(AllreduceBench, *args)
            status shouldBe 2
            err shouldContain expected
            err shouldContain "Usage: strata bench allreduce"
            err shouldNotContain "Exception"
            err shouldNotContain "\tat "
            out shouldBe ""
        }
        runCaptured(DispatchBench, "--only", "latency,bogus").let { (status, _, err) ->
            status shouldBe 2
            err shouldContain "takes some of latency,"
        }
        runCaptured(DispatchBench, "--workers", "0").first shouldBe 2
        runCaptured(ClusterBench, "--quick", "extra").first shouldBe 2
        runCaptured(MailboxBench, "--quick=yes").first shouldBe 2
    }
})
