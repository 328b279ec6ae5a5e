package dev.strata.endpoint

import dev.strata.graph.Run
import dev.strata.graph.Task
import dev.strata.task.TaskArgs
import dev.strata.task.TaskCallable
import dev.strata.task.Target
import io.kotest.core.spec.style.FunSpec
import io.kotest.matchers.shouldBe
import io.kotest.matchers.types.shouldBeSameInstanceAs
import java.util.concurrent.CountDownLatch
import java.util.concurrent.TimeUnit

/** A ThreadEndpoint giving up a thread whose task ignored its stall verdict (issue 13 §7). */
class ThreadEndpointSpec : FunSpec({
    test("while a given-up thread's task is handed to a fresh thread, the worker still reads busy with it (no idle gap for a watchdog)") {
        val release = java.util.concurrent.atomic.AtomicBoolean(false)
        val running = CountDownLatch(1)
        val deaf = TaskCallable {
            running.countDown()
            while (!release.get()) {
                try {
                    Thread.sleep(5)
                } catch (_: InterruptedException) {
                    // deaf
                }
            }
        }
        val reporting = CountDownLatch(1)
        val proceed = CountDownLatch(1)
        val ep = ThreadEndpoint("T core#0", 0, 0, stuckGraceMillis = 100)
        ep.start { d ->
            if (d.error != null) { // the abandoned task's report, from the fresh thread: hold it there
                reporting.countDown()
                proceed.await(10, TimeUnit.SECONDS)
            }
            null
        }
        try {
            val run = Run(1) { }
            val task = Task(1, run, "deaf", deaf, arrayOf<Target>(Target.Next(0)), arrayOf(TaskArgs.EMPTY))
            val d = Dispatch(task, 0, ep)
            ep.dispatch(d)
            running.await(10, TimeUnit.SECONDS) shouldBe true
            ep.stop(d, StopReason.STALLED) // it ignores the interrupt: after 100 ms its thread is given up
            reporting.await(10, TimeUnit.SECONDS) shouldBe true
            // The old thread was given up and the slot is empty, but the fresh thread has not reported yet.
            ep.running shouldBeSameInstanceAs d
            ep.busy shouldBe true
            proceed.countDown()
            val until = System.nanoTime() + 5_000_000_000L
            while (ep.busy && System.nanoTime() < until) Thread.sleep(5)
            ep.busy shouldBe false // reported: the worker is free again
        } finally {
            proceed.countDown()
            release.set(true)
            ep.close(5_000)
        }
    }
})
