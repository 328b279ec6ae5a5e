package dev.strata.bench

import io.kotest.core.spec.style.FunSpec
import io.kotest.matchers.doubles.shouldBeGreaterThan
import io.kotest.matchers.longs.shouldBeGreaterThan
import io.kotest.matchers.shouldBe
import java.io.ByteArrayOutputStream
import java.io.PrintStream
import java.nio.file.Files
import java.nio.file.Paths

class MailboxBenchSpec : FunSpec({
    test("--quick prints one JSON line with positive round-trip figures and leaves no shared memory behind") {
        val buf = ByteArrayOutputStream()
        MailboxBench.run(listOf("--quick"), PrintStream(buf, true)) shouldBe 0
        val line = buf.toString().trim()
        line.lines().size shouldBe 1
        fun num(field: String) = Regex("\"$field\":([0-9.]+)").find(line)!!.groupValues[1].toDouble()
        num("rtt_raw_spin_ns").toLong() shouldBeGreaterThan 0L
        num("rtt_spin_ns").toLong() shouldBeGreaterThan 0L
        num("rtt_parked_us") shouldBeGreaterThan 0.0
        val shm = Paths.get("/dev/shm")
        if (Files.isDirectory(shm)) {
            Files.list(shm).use { files -> files.filter { it.fileName.toString().contains("-bench-") && it.fileName.toString().startsWith("strata-${ProcessHandle.current().pid()}") }.count() } shouldBe 0L
        }
    }

    test("an unknown option is refused with exit code 2") {
        MailboxBench.run(listOf("--nope"), PrintStream(ByteArrayOutputStream())) shouldBe 2
    }
})
