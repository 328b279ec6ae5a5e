package dev.strata.samples

import com.github.ajalt.mordant.terminal.Terminal
import com.github.ajalt.mordant.terminal.TerminalRecorder
import io.kotest.core.spec.style.FunSpec
import io.kotest.matchers.shouldBe
import io.kotest.matchers.string.shouldContain

/** [Progress]: a bar on an interactive terminal, nothing elsewhere; the work's result either way. */
class ProgressSpec : FunSpec({
    test("on an interactive terminal the work runs under a bar that counts its steps") {
        val rec = TerminalRecorder(outputInteractive = true, inputInteractive = false)
        val p = Progress.on(Terminal(terminalInterface = rec))
        p.shown shouldBe true
        val result = p.steps("rounds", 3) { step ->
            repeat(3) {
                Thread.sleep(60)
                step()
            }
            42
        }
        result shouldBe 42
        val drawn = rec.output()
        drawn shouldContain "rounds"
        drawn shouldContain "/3"
    }

    test("when the output is not a terminal, nothing is drawn and the work still runs") {
        val rec = TerminalRecorder(outputInteractive = false, inputInteractive = false)
        val p = Progress.on(Terminal(terminalInterface = rec))
        p.shown shouldBe false
        p.steps("rounds", 2) { step -> step(); step(); "done" } shouldBe "done"
        rec.output() shouldBe ""
    }

    test("a step that throws: the error comes through and the bar is gone") {
        val rec = TerminalRecorder(outputInteractive = true, inputInteractive = false)
        val p = Progress.on(Terminal(terminalInterface = rec))
        val e = runCatching { p.steps("failing", 2) { step -> step(); error("boom") } }.exceptionOrNull()
        e?.message shouldBe "boom"
    }
})
