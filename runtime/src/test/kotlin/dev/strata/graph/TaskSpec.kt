package dev.strata.graph

import dev.strata.task.TaskArgs
import dev.strata.task.TaskCallable
import dev.strata.task.Target
import io.kotest.core.spec.style.FunSpec
import io.kotest.matchers.collections.shouldContainExactly
import io.kotest.matchers.nulls.shouldBeNull
import io.kotest.matchers.shouldBe

/** The task's transitions, one by one: each is the only place its state moves (graph/Task.kt). */
class TaskSpec : FunSpec({
    fun run() = Run(1) { }
    var ids = 0L
    fun task(run: Run, name: String = "t${ids + 1}") =
        Task(++ids, run, name, TaskCallable { }, arrayOf<Target>(Target.Sub), arrayOf(TaskArgs.EMPTY))

    test("a consumer attached to a pending producer waits for it; completing releases it") {
        val r = run()
        val p = task(r)
        p.publish() shouldBe Task.Publish.READY
        val c = task(r)
        p.attach(c)
        c.publish() shouldBe Task.Publish.WAITING // the producer's fan-in is still there
        p.queued()
        p.dispatched()
        p.complete()!!.shouldContainExactly(c)
        c.releaseFanin() shouldBe true
        p.state shouldBe TaskState.COMPLETED
    }

    test("attaching to a finished producer waits for nothing; to a failed or skipped one poisons the consumer") {
        val r = run()
        val done = task(r).also { it.publish(); it.dispatched(); it.complete() }
        val c1 = task(r)
        done.attach(c1)
        c1.publish() shouldBe Task.Publish.READY

        val failed = task(r).also { it.publish(); it.dispatched(); it.fail() }
        val c2 = task(r)
        failed.attach(c2)
        c2.publish() shouldBe Task.Publish.POISONED
    }

    test("attach racing the producer's completion: the consumer is released by the completion or waits for nothing, never both or neither") {
        // The lock-free consumer list (Task.attach against takeFanout): 20,000 races between the builder's
        // attach and a worker's complete (or fail), each ending with the consumer's fan-in at exactly its
        // build guard.
        val r = run()
        val pool = java.util.concurrent.Executors.newSingleThreadExecutor()
        try {
            repeat(20_000) { i ->
                val p = task(r).also { it.publish(); it.dispatched() }
                val c = task(r)
                val failing = i % 3 == 0
                val start = java.util.concurrent.CountDownLatch(1)
                val completion = pool.submit<List<Task>?> {
                    start.await()
                    if (failing) p.fail() else p.complete()
                }
                start.countDown()
                p.attach(c)
                val consumers = completion.get()
                val released = consumers?.contains(c) == true
                if (released && !failing) c.releaseFanin() shouldBe false // its build guard is still held
                c.fanin shouldBe if (released && failing) 2 else 1 // a failed producer's consumers are skipped, not released
                if (failing && !released) c.publish() shouldBe Task.Publish.POISONED
            }
        } finally {
            pool.shutdownNow()
        }
    }

    test("a run that failed while a task was building publishes it poisoned") {
        val r = run()
        val t = task(r)
        r.fail(IllegalStateException("boom"))
        t.publish() shouldBe Task.Publish.POISONED
    }

    test("skip: a building task is only poisoned, a pending one is skipped with its consumers, a running one is left alone") {
        val r = run()
        val building = task(r)
        building.skip().shouldBeNull()
        building.publish() shouldBe Task.Publish.POISONED

        val p = task(r)
        val c = task(r)
        p.attach(c)
        p.publish()
        p.skip()!!.shouldContainExactly(c)
        p.state shouldBe TaskState.SKIPPED
        p.claim() shouldBe false // skipped meanwhile: an endpoint cannot take it

        val running = task(r).also { it.publish(); it.dispatched() }
        running.skip().shouldBeNull()
        running.state shouldBe TaskState.RUNNING
    }

    test("claim takes a pending task once, and never one of a failed run") {
        val r = run()
        val t = task(r).also { it.publish() }
        t.claim() shouldBe true
        t.state shouldBe TaskState.RUNNING
        t.claim() shouldBe false

        val r2 = run()
        val u = task(r2).also { it.publish() }
        r2.fail(IllegalStateException("boom"))
        u.claim() shouldBe false
    }

    test("a gate opens once: its consumers are released, a second open finds nothing") {
        val r = run()
        val g = task(r, "gate")
        val c = task(r)
        g.holdAsGate()
        g.attach(c)
        g.openGate()!!.shouldContainExactly(c)
        g.openGate().shouldBeNull()
    }

    test("references: the last release says so, and a consumed task takes no new reference") {
        val r = run()
        val t = task(r)
        t.tryRetain() shouldBe true // a consumer's
        t.release() shouldBe false
        t.release() shouldBe false
        t.release() shouldBe true // scope, consumer, itself: gone
        t.consumed()
        t.tryRetain() shouldBe false
        t.isConsumed shouldBe true
    }
})
