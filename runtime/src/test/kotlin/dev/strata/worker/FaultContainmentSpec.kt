package dev.strata.worker

import dev.strata.error.InvalidConfigException
import dev.strata.error.InvalidSubmitException
import dev.strata.error.SharedMemoryFullException
import dev.strata.error.SubmitProblem
import dev.strata.error.TaskFailedException
import dev.strata.error.WorkerClosedException
import dev.strata.chip.ChipConfig
import dev.strata.process.assertNoLeftovers
import dev.strata.process.ownShmFiles
import dev.strata.task.Orchestrator
import dev.strata.task.TaskArgs
import dev.strata.task.TaskCallable
import dev.strata.task.TaskContext
import dev.strata.task.Target
import dev.strata.tensor.DType
import io.kotest.assertions.throwables.shouldThrow
import io.kotest.core.spec.style.FunSpec
import io.kotest.matchers.shouldBe
import io.kotest.matchers.string.shouldContain
import io.kotest.matchers.types.shouldBeInstanceOf
import kotlin.time.Duration
import kotlin.time.Duration.Companion.seconds

/** An exception whose own methods throw: error capture must still report it (issue 13 §1). */
class HostileException : RuntimeException() {
    override val message: String get() = throw IllegalStateException("no message for you")
    override fun toString(): String = throw IllegalStateException("no string for you")
}

/** Throws a [HostileException] (an `object`: it crosses into child JVMs by name). */
object ThrowsHostile : TaskCallable {
    override fun call(context: TaskContext): Unit = throw HostileException()
}

/** Returns with its thread's interrupt flag set (issue 13 §6). */
object LeavesInterruptSet : TaskCallable {
    override fun call(context: TaskContext) {
        Thread.currentThread().interrupt()
    }
}

/** Sleeps a millisecond: throws InterruptedException if a stale interrupt flag reached it. */
object SleepsBriefly : TaskCallable {
    override fun call(context: TaskContext) {
        Thread.sleep(1)
    }
}

/** Runs [program] and waits at most [bound]: a hang fails the test instead of hanging it. */
private fun Worker.runBounded(bound: Duration = 20.seconds, program: suspend Orchestrator.() -> Unit) =
    submit(program).result(bound)

class FaultContainmentSpec : FunSpec({
    afterEach { assertNoLeftovers() }

    for (isolation in Isolation.entries) {
        test("an exception whose getMessage and toString throw fails its run with a clear error; the worker stays usable ($isolation)") {
            Worker(WorkerConfig(subWorkers = 1, subIsolation = isolation)).use { w ->
                val pids = w.childPids
                val e = shouldThrow<TaskFailedException> {
                    w.runBounded { submit(Target.Sub, ThrowsHostile, TaskArgs.EMPTY, "hostile") }
                }
                e.errorClass shouldBe HostileException::class.java.name
                e.errorMessage!! shouldContain "getMessage() threw java.lang.IllegalStateException"
                e.message shouldContain "hostile"
                e.errorStack shouldContain "ThrowsHostile"
                w.runBounded { submit(Target.Sub, SleepsBriefly, TaskArgs.EMPTY) } // the next run works
                w.childPids shouldBe pids // in a child JVM: the same child, not a lost one
            }
        }

        test("an interrupt a task leaves set does not reach the next task on that worker ($isolation)") {
            Worker(WorkerConfig(subWorkers = 1, subIsolation = isolation)).use { w ->
                w.runBounded {
                    submit(Target.Sub, LeavesInterruptSet, TaskArgs.EMPTY, "interrupts itself")
                    submit(Target.Sub, SleepsBriefly, TaskArgs.EMPTY, "sleeps")
                }
                w.runBounded { submit(Target.Sub, SleepsBriefly, TaskArgs.EMPTY, "sleeps in the next run") }
            }
        }
    }

    test("every timeout setting must be finite: validation lists each offender") {
        val e = shouldThrow<InvalidConfigException> {
            WorkerConfig(
                subWorkers = 1, startTimeout = Duration.INFINITE, backPressureTimeout = Duration.INFINITE,
                closeTimeout = Duration.INFINITE, spin = Duration.INFINITE,
                nextLevel = listOf(NextLevelChild.Chip(ChipConfig(deviceId = 0, syncTimeout = Duration.INFINITE, commTimeout = Duration.INFINITE))),
            ).validate()
        }
        for (setting in listOf("startTimeout", "backPressureTimeout", "closeTimeout", "spin", "syncTimeout", "commTimeout")) {
            e.message shouldContain "$setting must be"
        }
    }

    test("sizes are exact: a negative or overflowing shape is refused, naming the call (issue 13 §13)") {
        Worker(WorkerConfig(subWorkers = 1)).use { w ->
            shouldThrow<IllegalArgumentException> { w.hostTensor(DType.F32, -1) }.message shouldContain "hostTensor 'host': every dimension must be >= 0"
            shouldThrow<IllegalArgumentException> { w.hostTensor(DType.F32, 1L shl 62, 4) }.message shouldContain "do not fit"
            shouldThrow<IllegalArgumentException> { w.runBounded { alloc(DType.F32, 1L shl 62, 4) } }.message shouldContain "alloc in run #"
            w.runBounded { alloc(DType.F32, 4) } // the worker stays usable
        }
        Worker(WorkerConfig(nextLevel = listOf(NextLevelChild.Chip(ChipConfig(deviceId = 0))), chipIsolation = Isolation.THREAD)).use { w ->
            shouldThrow<IllegalArgumentException> { w.deviceTensor(0, DType.F32, 1L shl 62, 4) }.message shouldContain "deviceTensor 'device' on chip 0"
        }
    }

    test("a view whose footprint overflows a Long is refused, not wrapped into its buffer (issue 13 §13)") {
        Worker(WorkerConfig(subWorkers = 1)).use { w ->
            val x = w.hostTensor(DType.F32, 16, label = "x") // 64 bytes
            val huge = x.buffer.view(DType.F32, 0, longArrayOf((1L shl 62) + 1), longArrayOf(1))
            val far = x.buffer.view(DType.F32, 0, longArrayOf(2, 2), longArrayOf(Long.MAX_VALUE / 2, 1))
            for (view in listOf(huge, far)) {
                val e = shouldThrow<InvalidSubmitException> {
                    w.runBounded { submit(Target.Sub, SleepsBriefly, TaskArgs.build { output(view) }, "huge") }
                }
                e.problems.single().shouldBeInstanceOf<SubmitProblem.ViewOverflows>().message shouldContain "argument 0"
            }
        }
    }

    test("shared memory is reserved when created: a tensor larger than /dev/shm is a typed error at once, and nothing is left (issue 13 §11)") {
        Worker(WorkerConfig(subWorkers = 1, subIsolation = Isolation.PROCESS)).use { w ->
            val before = ownShmFiles()
            val e = shouldThrow<SharedMemoryFullException> { w.hostTensor(DType.U8, 1L shl 40, label = "huge") } // 1 TiB
            e.requested shouldBe (1L shl 40)
            e.message shouldContain "for a host tensor in"
            e.message shouldContain "free of"
            ownShmFiles() shouldBe before
            val small = w.hostTensor(DType.I64, 4) // the worker stays usable
            w.runBounded { submit(Target.Sub, SleepsBriefly, TaskArgs.build { output(small) }) }
        }
    }

    test("a closed worker refuses everything with WorkerClosedException and creates nothing") {
        val w = Worker(WorkerConfig(subWorkers = 1, subIsolation = Isolation.PROCESS))
        w.close()
        val before = ownShmFiles()
        shouldThrow<WorkerClosedException> { w.hostTensor(DType.F32, 1024) }
        shouldThrow<WorkerClosedException> { w.register(SleepsBriefly) }
        shouldThrow<WorkerClosedException> { w.deviceTensor(0, DType.F32, 4) }
        shouldThrow<WorkerClosedException> { w.chipContext(0) }
        shouldThrow<WorkerClosedException> { w.runBounded { } }
        ownShmFiles() shouldBe before
    }
})

