package dev.strata.schedule

import dev.strata.endpoint.Dispatch
import dev.strata.endpoint.Endpoint
import dev.strata.error.SchedulerStallException
import dev.strata.error.StallKind
import dev.strata.graph.Run
import dev.strata.testing.waitUntil
import io.kotest.core.spec.style.FunSpec
import io.kotest.matchers.shouldBe
import java.util.concurrent.atomic.AtomicReference
import kotlin.time.Duration.Companion.milliseconds

/** When the stall watchdog's periodic checks run: from a run's admission until a check finds no run in flight. */
class StallWatchdogTimerSpec : FunSpec({
    class Hooks : StallWatchdog.Hooks {
        @Volatile
        var head: Run? = null
        val declared = AtomicReference<SchedulerStallException?>()
        override fun headRun(): Run? = head
        override fun submitted(): Long = 0
        override fun readyCount(): Int = 0
        override fun declare(run: Run, error: SchedulerStallException, stuck: Pair<Endpoint, Dispatch>?) {
            declared.set(error)
        }
    }

    test("back-to-back runs keep the checks armed; the first check with no run in flight stops them") {
        val hooks = Hooks()
        StallWatchdog("L2", 60_000.milliseconds, emptyList(), hooks).use { w ->
            w.armed shouldBe false
            hooks.head = Run(1) { }
            w.arm()
            w.armed shouldBe true
            hooks.head = null // the run ended: nothing is cancelled yet (no timer traffic per run)
            w.armed shouldBe true
            hooks.head = Run(2) { }
            w.arm() // the next run: still the same periodic checks
            w.tick(System.nanoTime())
            w.armed shouldBe true
            hooks.head = null
            w.tick(System.nanoTime())
            w.armed shouldBe false // idle: no more wake-ups
        }
    }

    test("checks stopped by an idle check start again with the next run, and still declare its stall") {
        val hooks = Hooks()
        StallWatchdog("L2", 40.milliseconds, emptyList(), hooks).use { w ->
            hooks.head = Run(1) { }
            w.arm()
            hooks.head = null
            waitUntil("the timer's idle check stops the checks") { !w.armed }
            hooks.head = Run(2) { }
            w.arm()
            waitUntil("the run that neither submits nor ends is declared") { hooks.declared.get() != null }
            hooks.declared.get()!!.kind shouldBe StallKind.ORCHESTRATOR_STARVATION
        }
    }
})
