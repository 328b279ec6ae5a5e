package dev.strata.chip

import dev.strata.process.assertNoLeftovers
import dev.strata.error.SchedulerStallException
import dev.strata.error.StallKind
import dev.strata.error.TaskFailedException
import dev.strata.error.WorkerDiedException
import dev.strata.testing.HANG_GUARD
import dev.strata.testing.waitUntil
import dev.strata.task.CoreGroup
import dev.strata.task.Target
import dev.strata.tensor.DType
import dev.strata.worker.Isolation
import io.kotest.assertions.throwables.shouldThrow
import io.kotest.core.spec.style.FunSpec
import io.kotest.matchers.shouldBe
import io.kotest.matchers.string.shouldContain
import kotlin.time.Duration.Companion.milliseconds
import kotlin.time.Duration.Companion.seconds

/** The level-2 stall watchdog (seed pr930-935), through whole chips. Budgets are short to keep the suite fast. */
class StallWatchdogSpec : FunSpec({
    afterEach { assertNoLeftovers() }

    fun stalled(e: TaskFailedException, kind: StallKind) {
        e.errorClass shouldBe SchedulerStallException::class.java.name
        e.message shouldContain kind.label
    }

    for (iso in listOf(Isolation.THREAD, Isolation.PROCESS)) {
        test("a hung kernel is declared running-stalled by the core that owns it; the chip works afterwards ($iso)") {
            chipWorker(1, iso, domain = false, chip = { ChipConfig(it, stallTimeout = 300.milliseconds) }).use { w ->
                val e = shouldThrow<TaskFailedException> { w.run { on(Target.Next(0), kernel(HangingKernel), "hang") } }
                stalled(e, StallKind.RUNNING_STALLED)
                e.message shouldContain "core#0 has been running task"
                e.message shouldContain "'HangingKernel'"
                e.message shouldContain "L3 chip#0"
                // The stuck core was interrupted: the next run uses it normally.
                val a = w.deviceTensor(0, DType.I32, 4)
                w.run { on(Target.Next(0), kernel(DoubleInts)) { input(a); output(a.buffer.tensor(DType.I32, 4)) } }
            }
        }
    }

    test("a kernel that ignores its stall verdict on a THREAD chip: its core goes on with a fresh thread, later runs work (issue 13 §7)") {
        DeafKernel.release = false
        try {
            chipWorker(1, Isolation.THREAD, domain = false, chip = { ChipConfig(it, stallTimeout = 300.milliseconds, cores = listOf(CoreGroup("aiv", 1))) }).use { w ->
                val e = shouldThrow<TaskFailedException> { w.run { on(Target.Next(0), kernel(DeafKernel), "deaf") } }
                stalled(e, StallKind.RUNNING_STALLED)
                val a = w.deviceTensor(0, DType.I32, 4)
                val next = w.submit { on(Target.Next(0), kernel(DoubleInts)) { input(a); output(a.buffer.tensor(DType.I32, 4)) } }
                next.result(HANG_GUARD) // the only core serves again although the deaf kernel still runs on its old thread
                Thread.getAllStackTraces().keys.any { it.name.endsWith("core#0-1") } shouldBe true // the fresh thread
            }
        } finally {
            DeafKernel.release = true
        }
    }

    test("a kernel that ignores its stall verdict in a chip JVM ends that JVM: the chip is reported dead, nothing keeps burning (issue 13 §7)") {
        chipWorker(1, Isolation.PROCESS, domain = false, chip = { ChipConfig(it, stallTimeout = 300.milliseconds, cores = listOf(CoreGroup("aiv", 1))) }).use { w ->
            val pid = w.childPids.getValue("L3 chip#0")
            val e = shouldThrow<TaskFailedException> { w.run { on(Target.Next(0), kernel(DeafKernel), "deaf") } }
            stalled(e, StallKind.RUNNING_STALLED)
            waitUntil("the chip JVM ends itself") { !ProcessHandle.of(pid).isPresent }
            val dead = shouldThrow<WorkerDiedException> { w.run { on(Target.Next(0), kernel(DoubleInts)) { } } }
            dead.message shouldContain "a kernel ignored its stall verdict"
        }
    }

    test("tasks waiting for a gate nothing opens, with every core idle, are declared a dependency deadlock") {
        chipWorker(1, Isolation.THREAD, domain = false, chip = { ChipConfig(it, stallTimeout = 300.milliseconds) }).use { w ->
            stalled(shouldThrow<TaskFailedException> { w.run { on(Target.Next(0), NeverOpenedGate, "gate") } }, StallKind.DEPENDENCY_DEADLOCK)
        }
    }

    test("a program that neither submits nor returns while the cores idle is declared orchestrator starvation") {
        chipWorker(1, Isolation.THREAD, domain = false, chip = { ChipConfig(it, stallTimeout = 300.milliseconds) }).use { w ->
            stalled(shouldThrow<TaskFailedException> { w.run { on(Target.Next(0), StarvingProgram, "starve") } }, StallKind.ORCHESTRATOR_STARVATION)
        }
    }

    test("idle cores never latch while a long healthy chain runs on another core, nor between runs") {
        // Budget 400 ms: core 1 idles for the whole run (~1.2 s) and between runs; core 0 finishes a kernel
        // every 150 ms. An idle-clock latch (the seed's false positive) would fail this run.
        chipWorker(1, Isolation.THREAD, domain = false, chip = { ChipConfig(it, stallTimeout = 400.milliseconds) }).use { w ->
            val t = w.deviceTensor(0, DType.I32, 1)
            w.run { on(Target.Next(0), ChainOnCoreZero, "chain") { inout(t); scalar(8); scalar(150) } }
            Thread.sleep(600)
            w.run { on(Target.Next(0), ChainOnCoreZero, "chain-again") { inout(t); scalar(2); scalar(10) } }
        }
    }

    test("init barrier: a chip that starts slowly does not eat the budget of the others' first task") {
        // Chip 1 needs 1.5 s more to start than chip 0. Both have a 1 s stall budget and 1 s comm bound: if
        // chip 0 got its task before chip 1 was ready, its barrier would wait > 1 s and fail.
        chipWorker(2, Isolation.PROCESS, chip = {
            ChipConfig(it, stallTimeout = 1.seconds, commTimeout = 1.seconds, simInitDelay = if (it == 1) 1500.milliseconds else 0.milliseconds)
        }).use { w ->
            w.run {
                submitGroup(listOf(Target.Next(0), Target.Next(1)), kernel(BarrierKernel), List(2) { dev.strata.task.TaskArgs.EMPTY }, "barrier")
            }
        }
    }
})
