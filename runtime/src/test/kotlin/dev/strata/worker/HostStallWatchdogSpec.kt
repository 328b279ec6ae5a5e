package dev.strata.worker

import dev.strata.chip.ChipConfig
import dev.strata.chip.kernel
import dev.strata.dslless.submitTo
import dev.strata.error.RunCancelledException
import dev.strata.error.WorkerDiedException
import dev.strata.nativebind.posix.errno_h
import dev.strata.nativebind.posix.signal_h
import dev.strata.process.NoOp
import dev.strata.process.Sleeps
import dev.strata.process.SpinsDeaf
import dev.strata.testing.HANG_GUARD
import dev.strata.testing.waitUntil
import io.kotest.matchers.shouldNotBe
import java.lang.foreign.Arena
import kotlin.time.Duration.Companion.seconds
import dev.strata.process.assertNoLeftovers
import dev.strata.error.SchedulerStallException
import dev.strata.error.StallKind
import dev.strata.task.TaskArgs
import dev.strata.task.TaskCallable
import dev.strata.task.Target
import dev.strata.tensor.DType
import dev.strata.testing.background
import io.kotest.assertions.throwables.shouldThrow
import io.kotest.core.spec.style.FunSpec
import io.kotest.matchers.shouldBe
import io.kotest.matchers.string.shouldContain
import java.util.concurrent.CountDownLatch
import java.util.concurrent.atomic.AtomicInteger
import kotlin.time.Duration.Companion.milliseconds
import dev.strata.testing.getOrFail

/**
 * The stall watchdog on a host (level 3) worker, opt-in through `WorkerConfig.stallTimeout`: what would
 * otherwise hang a host run fails it, saying why. Budgets are short to keep the suite fast.
 */
class HostStallWatchdogSpec : FunSpec({
    afterEach { assertNoLeftovers() }

    fun host(budget: Int = 300) = Worker(WorkerConfig(subWorkers = 2, stallTimeout = budget.milliseconds))

    test("a gate that only a task behind it would open is declared a dependency deadlock, not a hang") {
        host().use { w ->
            val mailbox = w.hostTensor(DType.I64, 1)
            val y = w.hostTensor(DType.I64, 1)
            val e = shouldThrow<SchedulerStallException> {
                background("deadlocked run") { // bounded: a watchdog that does not fire fails the test, not the suite
                    w.run {
                        val ready = gate("peer-ready")
                        after(ready) {
                            submit(Target.Sub, TaskCallable { }, TaskArgs.build { input(mailbox); output(y) }, "consume")
                        }
                        // Writing the mailbox makes "receive" wait for "consume" (write after read): a deadlock.
                        submit(Target.Sub, TaskCallable { ready.open() }, TaskArgs.build { output(mailbox) }, "receive")
                    }
                }.getOrFail("the watchdog's verdict")
            }
            e.kind shouldBe StallKind.DEPENDENCY_DEADLOCK
            e.message shouldContain "L3: no progress for 300ms"
            e.message shouldContain "WorkerConfig.stallTimeout of L3"
            val ran = AtomicInteger()
            w.run { submit(Target.Sub, TaskCallable { ran.incrementAndGet() }, TaskArgs.EMPTY, "after") } // still usable
            ran.get() shouldBe 1
        }
    }

    test("a task that never finishes is declared running-stalled by its sub worker, which is interrupted and works again") {
        host().use { w ->
            val never = CountDownLatch(1)
            val e = shouldThrow<SchedulerStallException> {
                background("hung run") { w.run { submit(Target.Sub, TaskCallable { never.await() }, TaskArgs.EMPTY, "hang") } }
                    .getOrFail("the watchdog's verdict")
            }
            e.kind shouldBe StallKind.RUNNING_STALLED
            e.message shouldContain "L3 sub#"
            e.message shouldContain "'hang'"
            val ran = AtomicInteger()
            w.run { repeat(4) { submit(Target.Sub, TaskCallable { ran.incrementAndGet() }, TaskArgs.EMPTY) } }
            ran.get() shouldBe 4
        }
    }

    test("a long healthy chain on one sub worker, with the other idle, and idle time between runs, are not stalls") {
        host(budget = 400).use { w ->
            val t = w.hostTensor(DType.I64, 1)
            repeat(2) {
                w.run { repeat(6) { submit(Target.Sub, TaskCallable { Thread.sleep(150); t.setLong(0, t.getLong(0) + 1) }, TaskArgs.build { inout(t) }) } }
                Thread.sleep(600)
            }
            t.getLong(0) shouldBe 12L
        }
    }

    /** A host whose sub workers are child JVMs, watched with a [budget] (ms); a cancelled task gets [graceMs] to stop. */
    fun processHost(budget: Int? = 1500, graceMs: Int = 10_000) = Worker(
        WorkerConfig(
            subWorkers = 1, subIsolation = Isolation.PROCESS, stallTimeout = budget?.milliseconds,
            closeTimeout = graceMs.milliseconds, startTimeout = 30.seconds,
        ),
    )

    fun signal(pid: Long, sig: Int) = Arena.ofConfined().use { a ->
        signal_h.kill(errno_h.allocateCapture(a), pid.toInt(), sig) shouldBe 0
    }

    test("a child JVM stopped mid-task (SIGSTOP) is declared running-stalled, killed and replaced; the worker stays usable (issue 13 §2)") {
        processHost().use { w ->
            val pid = w.childPids.getValue("L3 sub#0")
            val h = w.submit { submitTo(Target.Sub, Sleeps, TaskArgs.build { scalar(3_000) }, "frozen") }
            Thread.sleep(300) // let it start
            signal(pid, signal_h.SIGSTOP)
            val e = shouldThrow<SchedulerStallException> { h.result(HANG_GUARD) }
            e.kind shouldBe StallKind.RUNNING_STALLED
            e.message shouldContain "L3 sub#0 (pid $pid)"
            e.message shouldContain "'frozen'"
            e.message shouldContain "stopped or frozen"
            waitUntil("the replacement child") { w.childPids.getValue("L3 sub#0") != pid }
            w.submit { submitTo(Target.Sub, NoOp) }.result(HANG_GUARD)
            ProcessHandle.of(pid).isPresent shouldBe false
        }
    }

    test("a task looping in a child JVM is declared running-stalled (its JVM alive), killed and replaced (issue 13 §2)") {
        processHost().use { w ->
            val pid = w.childPids.getValue("L3 sub#0")
            val e = shouldThrow<SchedulerStallException> {
                w.submit { submitTo(Target.Sub, SpinsDeaf, TaskArgs.build { scalar(600_000) }, "loops") }.result(HANG_GUARD)
            }
            e.kind shouldBe StallKind.RUNNING_STALLED
            e.message shouldContain "'loops'"
            e.message shouldContain "its JVM is alive"
            w.submit { submitTo(Target.Sub, NoOp) }.result(HANG_GUARD)
            w.childPids.getValue("L3 sub#0") shouldNotBe pid
        }
    }

    test("a chip JVM whose task stalls past the host budget is killed and the chip reported unusable, not replaced (issue 13 §2)") {
        Worker(
            WorkerConfig(
                nextLevel = listOf(NextLevelChild.Chip(ChipConfig(0, stallTimeout = 60.seconds, syncTimeout = 120.seconds))),
                stallTimeout = 1500.milliseconds,
            ),
        ).use { w ->
            val pid = w.childPids.getValue("L3 chip#0")
            val e = shouldThrow<SchedulerStallException> {
                w.submit { submit(Target.Next(0), kernel(SpinsDeaf), TaskArgs.build { scalar(600_000) }, "spins") }.result(HANG_GUARD)
            }
            e.kind shouldBe StallKind.RUNNING_STALLED
            e.message shouldContain "L3 chip#0 (pid $pid)"
            waitUntil("the chip JVM is gone") { !ProcessHandle.of(pid).isPresent }
            val dead = shouldThrow<WorkerDiedException> {
                w.submit { submit(Target.Next(0), kernel(NoOp), TaskArgs.EMPTY) }.result(HANG_GUARD)
            }
            dead.replaced shouldBe false
            dead.message shouldContain "create a new one"
        }
    }

    for (isolation in Isolation.entries) {
        test("cancel stops a running task: it is interrupted, the run ends, the same worker runs the next one ($isolation)") {
            Worker(WorkerConfig(subWorkers = 1, subIsolation = isolation)).use { w ->
                val pids = w.childPids
                val h = w.submit { submitTo(Target.Sub, Sleeps, TaskArgs.build { scalar(600_000) }, "long") }
                Thread.sleep(300)
                h.cancel()
                h.join(HANG_GUARD) shouldBe true
                shouldThrow<RunCancelledException> { h.result() }
                w.submit { submitTo(Target.Sub, NoOp) }.result(HANG_GUARD)
                w.childPids shouldBe pids // interrupted, not killed
            }
        }
    }

    test("cancel of a task that ignores interrupts on a thread: after the grace its thread is given up and the worker goes on (issue 13 §7)") {
        val release = java.util.concurrent.atomic.AtomicBoolean(false)
        try {
            Worker(WorkerConfig(subWorkers = 1, closeTimeout = 500.milliseconds)).use { w ->
                val deaf = TaskCallable {
                    while (!release.get()) {
                        try {
                            Thread.sleep(10)
                        } catch (_: InterruptedException) {
                            // swallowed: this task cannot be stopped politely
                        }
                    }
                }
                val h = w.submit { submit(Target.Sub, deaf, TaskArgs.EMPTY, "deaf") }
                Thread.sleep(200)
                h.cancel()
                h.join(HANG_GUARD) shouldBe true
                shouldThrow<RunCancelledException> { h.result() }
                val ran = AtomicInteger()
                w.submit { submit(Target.Sub, TaskCallable { ran.incrementAndGet() }, TaskArgs.EMPTY) }.result(HANG_GUARD)
                ran.get() shouldBe 1
            }
        } finally {
            release.set(true)
        }
    }

    test("cancel of a task that ignores interrupts in a child JVM kills that child after the grace and replaces it") {
        processHost(budget = null, graceMs = 500).use { w ->
            val pid = w.childPids.getValue("L3 sub#0")
            val h = w.submit { submitTo(Target.Sub, SpinsDeaf, TaskArgs.build { scalar(600_000) }, "deaf") }
            Thread.sleep(300)
            h.cancel()
            h.join(HANG_GUARD) shouldBe true
            shouldThrow<RunCancelledException> { h.result() }
            w.submit { submitTo(Target.Sub, NoOp) }.result(HANG_GUARD)
            w.childPids.getValue("L3 sub#0") shouldNotBe pid
        }
    }
})
