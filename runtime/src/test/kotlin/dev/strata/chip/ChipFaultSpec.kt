package dev.strata.chip

import dev.strata.process.assertNoLeftovers
import dev.strata.error.TaskFailedException
import dev.strata.error.WorkerDiedException
import dev.strata.nativebind.posix.errno_h
import dev.strata.nativebind.posix.signal_h
import java.lang.foreign.Arena
import dev.strata.task.TaskArgs
import dev.strata.task.Target
import dev.strata.testing.HANG_GUARD
import dev.strata.testing.waitUntil
import dev.strata.worker.Isolation
import io.kotest.assertions.throwables.shouldThrow
import io.kotest.core.spec.style.FunSpec
import io.kotest.matchers.shouldBe
import io.kotest.matchers.string.shouldContain
import kotlin.time.Duration.Companion.seconds
import dev.strata.error.ChipException

class ChipFaultSpec : FunSpec({
    afterEach { assertNoLeftovers() }

    test("a chip SIGKILLed mid-collective fails the run with WorkerDiedException, and its peers stop waiting at once") {
        // The comm bound is 30 s, longer than the hang guard: the run can only end in time because the
        // parent breaks the dead chip's domain and wakes the peers waiting in the barrier.
        chipWorker(3, Isolation.PROCESS, chip = { ChipConfig(it, commTimeout = 30.seconds, stallTimeout = 30.seconds) }).use { w ->
            val pid = w.childPids.getValue("L3 chip#1")
            val handle = w.submit { submitGroup(List(3) { Target.Next(it) }, kernel(SlowPeerBarrier), List(3) { TaskArgs.EMPTY }, "collective") }
            Thread.sleep(500) // let every rank enter its kernel
            ProcessHandle.of(pid).get().destroyForcibly()
            val started = System.nanoTime()
            waitUntil("the run fails", HANG_GUARD) { handle.isDone }
            val e = shouldThrow<WorkerDiedException> { handle.result() }
            e.workerPath shouldBe "L3 chip#1"
            e.message shouldContain "SIGKILL"
            ((System.nanoTime() - started) / 1e9 < HANG_GUARD.inWholeSeconds) shouldBe true
        }
    }

    test("a chip JVM stopped (SIGSTOP) mid-collective: its peers fail at the comm bound and the run ends, the frozen chip killed (issue 13 §3)") {
        chipWorker(3, Isolation.PROCESS, chip = { ChipConfig(it, commTimeout = 2.seconds, stallTimeout = 60.seconds) }).use { w ->
            val pid = w.childPids.getValue("L3 chip#1")
            val handle = w.submit { submitGroup(List(3) { Target.Next(it) }, kernel(SlowPeerBarrier), List(3) { TaskArgs.EMPTY }, "collective") }
            Thread.sleep(500) // every rank in its kernel; rank 1 sleeps, the others wait in the barrier
            Arena.ofConfined().use { a -> signal_h.kill(errno_h.allocateCapture(a), pid.toInt(), signal_h.SIGSTOP) shouldBe 0 }
            waitUntil("the run ends", HANG_GUARD) { handle.isDone } // the old engine waited for rank 1 forever
            val e = shouldThrow<TaskFailedException> { handle.result() }
            e.message shouldContain "CommunicationException" // the peers' failure at the comm bound is the run's error
            waitUntil("the frozen chip is gone") { !ProcessHandle.of(pid).isPresent }
            // The chip is reported dead: later tasks on it fail at once, naming it.
            shouldThrow<WorkerDiedException> { w.run { on(Target.Next(1), kernel(DoubleInts)) { } } }.workerPath shouldBe "L3 chip#1"
        }
    }

    for (iso in Isolation.entries) {
        test("a chip program that runs past syncTimeout fails naming the bound and is interrupted; the chip refuses later work ($iso)") {
            // The program sleeps outside any level-2 run, so only the chip's syncTimeout can end it (the stall budget is longer).
            chipWorker(1, iso, domain = false, chip = { ChipConfig(it, syncTimeout = 1.seconds, stallTimeout = 60.seconds) }).use { w ->
                val started = System.nanoTime()
                val e = shouldThrow<TaskFailedException> { w.submit { submit(Target.Next(0), HangingKernel, TaskArgs.EMPTY, "sleeps") }.result(HANG_GUARD) }
                e.errorClass shouldBe ChipException::class.java.name
                e.message shouldContain "L3 chip#0: synchronize failed"
                e.message shouldContain "a task did not finish within syncTimeout 1s"
                ((System.nanoTime() - started) / 1e9 < 10) shouldBe true
                val again = shouldThrow<TaskFailedException> { w.submit { on(Target.Next(0), kernel(DoubleInts)) { } }.result(HANG_GUARD) }
                again.message shouldContain "unusable"
            }
        }
    }

    test("a chip program that ignores its interrupt after syncTimeout ends its chip JVM: the chip is reported dead, nothing keeps burning") {
        chipWorker(1, Isolation.PROCESS, domain = false, chip = { ChipConfig(it, syncTimeout = 1.seconds, stallTimeout = 60.seconds) }).use { w ->
            val pid = w.childPids.getValue("L3 chip#0")
            val e = shouldThrow<WorkerDiedException> { w.submit { submit(Target.Next(0), DeafKernel, TaskArgs.EMPTY, "deaf") }.result(HANG_GUARD) }
            e.workerPath shouldBe "L3 chip#0"
            e.message shouldContain "ran past the chip's syncTimeout and ignored its interrupt"
            waitUntil("the chip JVM is gone") { !ProcessHandle.of(pid).isPresent }
            shouldThrow<WorkerDiedException> { w.submit { on(Target.Next(0), kernel(DoubleInts)) { } }.result(HANG_GUARD) }.workerPath shouldBe "L3 chip#0"
        }
    }
})
