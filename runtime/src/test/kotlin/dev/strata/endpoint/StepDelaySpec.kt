package dev.strata.endpoint

import io.kotest.core.spec.style.FunSpec
import io.kotest.matchers.ints.shouldBeGreaterThanOrEqual
import io.kotest.matchers.longs.shouldBeGreaterThanOrEqual
import io.kotest.matchers.shouldBe

/**
 * When a helping worker takes a step it may delay (StepDelay): at once when it is due, after the program
 * went quiet, and never later than the bound while the program keeps submitting. Only lower bounds of time
 * are asserted (a slow machine makes them longer, never shorter).
 */
class StepDelaySpec : FunSpec({
    timeout = 60_000L

    test("nothing queued: never due") {
        val d = StepDelay(FakeHelp(IdleHelp.NONE))
        repeat(1_000) { d.due() shouldBe false }
    }

    test("a step that must not wait is due at once") {
        StepDelay(FakeHelp(IdleHelp.DUE)).due() shouldBe true
    }

    test("a step that may wait is due once the program stopped submitting, not before the quiet time") {
        // Taken after the quiet time through the progress check (read when first seen and once after the quiet
        // time), unless a pause of this thread reached the bound first: so most rounds, not every one.
        var throughQuiet = 0
        repeat(200) {
            val help = FakeHelp(IdleHelp.MAY_WAIT)
            val d = StepDelay(help)
            val start = System.nanoTime()
            d.due() shouldBe false // first seen
            while (!d.due()) Unit
            (System.nanoTime() - start) shouldBeGreaterThanOrEqual StepDelay.QUIET_NANOS
            if (help.progressReads == 2) throughQuiet++
        }
        throughQuiet shouldBeGreaterThanOrEqual 100
    }

    test("while the program keeps submitting, the step waits for the bound, then is due") {
        val help = FakeHelp(IdleHelp.MAY_WAIT, moving = true)
        val d = StepDelay(help)
        val start = System.nanoTime()
        while (!d.due()) Unit
        (System.nanoTime() - start) shouldBeGreaterThanOrEqual StepDelay.MAX_WAIT_NANOS
    }

    test("a step taken resets the wait: the next one waits again") {
        val help = FakeHelp(IdleHelp.MAY_WAIT)
        val d = StepDelay(help)
        while (!d.due()) Unit
        d.due() shouldBe false // a fresh step is first seen again
        help.mode = IdleHelp.NONE
        d.due() shouldBe false
        help.mode = IdleHelp.MAY_WAIT
        d.due() shouldBe false
    }
})

private class FakeHelp(var mode: Int, private val moving: Boolean = false) : IdleHelp {
    var progressReads = 0
    private var progress = 0L
    override fun enter() = Unit
    override fun queued(): Int = mode
    override fun buildProgress(): Long {
        progressReads++
        return if (moving) ++progress else progress
    }
    override fun leave(index: Int) = Unit
}
