package dev.strata.mailbox

import dev.strata.process.ControlOp
import dev.strata.process.ErrorReport
import io.kotest.core.spec.style.FunSpec
import io.kotest.matchers.collections.shouldBeEmpty
import io.kotest.matchers.collections.shouldHaveSize
import io.kotest.matchers.shouldBe
import io.kotest.matchers.string.shouldContain
import java.io.File

class MailboxLayoutSpec : FunSpec({
    test("docs/protocol.md's layout table equals the descriptor") {
        val doc = section("Layout")
        val rows = doc.lineSequence()
            .map { it.trim() }
            .filter { it.startsWith("|") && !it.startsWith("|---") }
            .map { line -> line.trim('|').split('|').map { it.trim() } }
            .filter { it.size == 4 && it[1].toLongOrNull() != null }
            .map { MailboxLayout.Field(it[0], it[1].toLong(), it[2].toInt(), it[3]) }
            .toList()
        rows shouldBe MailboxLayout.FIELDS
    }

    test("docs/protocol.md's doorbell table equals the doorbell's offsets") {
        val rows = section("The doorbell and the reactor").lineSequence()
            .map { it.trim() }
            .filter { it.startsWith("|") && !it.startsWith("|---") }
            .map { line -> line.trim('|').split('|').map { it.trim() } }
            .filter { it.size == 4 && it[1].toLongOrNull() != null }
            .map { it[1].toLong() to it[2].toInt() }
            .toList()
        rows shouldBe listOf(Doorbell.COUNTER to 4, Doorbell.PARKED to 4)
    }

    test("docs/protocol.md lists every state with its value and nothing else") {
        val doc = section("States")
        val states = Regex("""^\| (\d+) \| ([A-Z_]+) \|""", RegexOption.MULTILINE).findAll(doc)
            .map { it.groupValues[1].toInt() to it.groupValues[2] }.toList()
        states shouldBe MailboxState.entries.map { it.code to it.name }
    }

    test("docs/protocol.md lists every control op with its code and nothing else") {
        val ops = Regex("""^\| (\d+) \| ([A-Z_]+) \|""", RegexOption.MULTILINE).findAll(section("What travels in the args blob"))
            .map { it.groupValues[1].toInt() to it.groupValues[2] }.toList()
        ops shouldBe ControlOp.entries.map { it.code to it.name }
    }

    test("docs/protocol.md lists every error report with its code and nothing else") {
        val reports = Regex("""^\| (\d+) \| ([A-Z_]+) \|""", RegexOption.MULTILINE).findAll(section("Error reports"))
            .map { it.groupValues[1].toInt() to it.groupValues[2] }.toList()
        reports shouldBe ErrorReport.entries.map { it.code to it.name }
    }

    test("the state word is alone on its cache line and fields never overlap") {
        val line = MailboxLayout.STATE_OFFSET / MailboxLayout.CACHE_LINE
        MailboxLayout.FIELDS.filter { it.name != "state" && it.offset / MailboxLayout.CACHE_LINE == line }.shouldBeEmpty()
        MailboxLayout.FIELDS.zipWithNext().forEach { (a, b) -> (a.offset + a.size <= b.offset) shouldBe true }
        MailboxLayout.FIELDS.forEach { f ->
            (f.offset % f.size) shouldBe 0L // naturally aligned: atomic access is possible
            (f.offset + f.size <= MailboxLayout.ARGS_OFFSET) shouldBe true
        }
    }

    test("the regions follow the header, cache-line aligned, and the error region holds at least 4 KiB") {
        MailboxLayout.errorOffset(100) shouldBe 384L
        (MailboxLayout.errorOffset(65_536) % MailboxLayout.CACHE_LINE) shouldBe 0L
        MailboxLayout.totalSize(100, 4096) shouldBe 384L + 4096
        MailboxLayout.check(8192, MailboxLayout.MAGIC, MailboxLayout.VERSION, MailboxLayout.totalSize(100, 4096), 100, 4096).shouldBeEmpty()
    }

    test("check names every problem of a bad header at once") {
        val problems = MailboxLayout.check(512, 0x12345678, 9, 1L shl 20, 100, 16)
        problems shouldHaveSize 5
        problems[0] shouldContain "magic is 0x12345678"
        problems[1] shouldContain "protocol version 9"
        problems[2] shouldContain "error capacity 16 B is below"
        problems[3] shouldContain "its capacities need 448 B"
        problems[4] shouldContain "the segment has only 512 B"
    }
})

/** The text of docs/protocol.md's `## [title]` section (up to the next `## ` heading). */
private fun section(title: String): String {
    val doc = File("../docs/protocol.md").readText()
    val start = doc.indexOf("\n## $title\n")
    check(start >= 0) { "docs/protocol.md has no '## $title' section" }
    val end = doc.indexOf("\n## ", start + 4).let { if (it < 0) doc.length else it }
    return doc.substring(start, end)
}
