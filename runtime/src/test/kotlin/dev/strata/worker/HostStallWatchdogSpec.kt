package dev.strata.worker

import dev.strata.chip.ChipConfig
import dev.strata.process.assertNoLeftovers
import dev.strata.error.InvalidConfigException
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

    test("a host budget needs every child in this JVM: child JVMs are refused, naming them") {
        val subs = shouldThrow<InvalidConfigException> {
            WorkerConfig(subWorkers = 1, subIsolation = Isolation.PROCESS, stallTimeout = 1000.milliseconds).validate()
        }
        subs.message shouldContain "its sub workers run in child JVMs"
        val chips = shouldThrow<InvalidConfigException> {
            WorkerConfig(nextLevel = listOf(NextLevelChild.Chip(ChipConfig(0))), stallTimeout = 1000.milliseconds).validate()
        }
        chips.message shouldContain "nextLevel[0] run in child JVMs"
        // Chips on threads are watched (and keep their own level-2 watchdog inside).
        WorkerConfig(
            nextLevel = listOf(NextLevelChild.Chip(ChipConfig(0))), chipIsolation = Isolation.THREAD, stallTimeout = 1000.milliseconds,
        ).validate()
    }
})
