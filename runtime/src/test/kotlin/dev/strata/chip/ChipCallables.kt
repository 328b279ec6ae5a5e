package dev.strata.chip

import dev.strata.task.Orchestrator
import dev.strata.task.TaskArgs
import dev.strata.task.TaskCallable
import dev.strata.task.TaskContext
import dev.strata.task.Target

// Chip callables and kernels for the chip specs: `object`s, so they also run in chip JVMs.

/** The domain the comm kernels use. */
internal const val DOMAIN = "d"

/** Kernel: tensor 1 (I32) = 2 × tensor 0. */
internal object DoubleInts : TaskCallable {
    override fun call(context: TaskContext) {
        val a = context.tensor(0)
        val b = context.tensor(1)
        for (i in 0 until a.elementCount) b.setInt(i, 2 * a.getInt(i))
    }
}

/** Kernel that fails. */
internal object ExplodingKernel : TaskCallable {
    override fun call(context: TaskContext): Unit = throw IllegalStateException("the kernel exploded on purpose")
}

/** Kernel that never finishes by itself (until interrupted). */
internal object HangingKernel : TaskCallable {
    override fun call(context: TaskContext) {
        Thread.sleep(Long.MAX_VALUE)
    }
}

/** Kernel that ignores interrupts: it waits (without burning a core) until [release] or 20 s pass. */
internal object DeafKernel : TaskCallable {
    @Volatile
    var release = false

    override fun call(context: TaskContext) {
        val end = System.nanoTime() + 20_000_000_000L
        while (!release && System.nanoTime() < end) {
            try {
                Thread.sleep(10)
            } catch (_: InterruptedException) {
                // deaf: a kernel that swallows its interrupt
            }
        }
    }
}

/** Kernel that sleeps `scalar(0)` ms. */
internal object SleepKernel : TaskCallable {
    override fun call(context: TaskContext) {
        Thread.sleep(context.scalar(0))
    }
}

/**
 * Chip program: a chain of `scalar(0)` kernels of `scalar(1)` ms each on core 0 (each INOUT on tensor 0,
 * so they run one after the other), in one level-2 run; the chip's other cores stay idle.
 */
internal object ChainOnCoreZero : TaskCallable {
    override fun call(context: TaskContext) {
        val t = context.tensor(0)
        val n = context.scalar(0).toInt()
        val ms = context.scalar(1)
        context.worker.run {
            repeat(n) { submit(Target.Next(0), SleepKernel, TaskArgs.build { inout(t); scalar(ms) }, "healthy-$it") }
        }
    }
}

/** Chip program: a kernel that waits for a gate nobody opens. */
internal object NeverOpenedGate : TaskCallable {
    override fun call(context: TaskContext) {
        context.worker.run {
            val g = gate("never")
            after(g) { submit(Target.Next(0), SleepKernel, TaskArgs.build { scalar(0) }, "waits-for-gate") }
        }
    }
}

/** Chip program that never submits and never returns (until interrupted). */
internal object StarvingProgram : TaskCallable {
    override fun call(context: TaskContext) {
        context.worker.run { Thread.sleep(Long.MAX_VALUE) }
    }
}

/**
 * Kernel over domain [DOMAIN] with buffer `b` (I64): checks its window is zero, writes `rank + 1` into its
 * own `b`, barrier, then reads every peer's `b` through remote views and writes their sum into tensor 0
 * (I64, one element); fails if its window was not zero.
 */
internal object ExchangeKernel : TaskCallable {
    override fun call(context: TaskContext) {
        val comm = context.chip.comm(DOMAIN)
        val own = comm.buffer("b")
        for (i in 0 until own.elementCount) check(own.getLong(i) == 0L) { "window not zero at element $i" }
        for (i in 0 until own.elementCount) own.setLong(i, comm.rank + 1L)
        comm.barrier()
        var sum = 0L
        for (p in 0 until comm.ranks) sum += comm.remote(own, p).getLong(0)
        comm.barrier() // nobody changes its buffer while a peer may still read it
        context.tensor(0).setLong(0, sum)
    }
}

/** Kernel: one barrier of domain [DOMAIN]. */
internal object BarrierKernel : TaskCallable {
    override fun call(context: TaskContext) {
        context.chip.comm(DOMAIN).barrier()
    }
}

/** Kernel: rank 1 sleeps long (so it can be killed mid-task), the others wait for it in a barrier. */
internal object SlowPeerBarrier : TaskCallable {
    override fun call(context: TaskContext) {
        val comm = context.chip.comm(DOMAIN)
        if (comm.rank == 1) Thread.sleep(60_000)
        comm.barrier()
    }
}

/** A chip driver factory tests point at a MockK mock ([next]). */
internal object MockDriverFactory : ChipDriverFactory {
    @Volatile
    var next: ChipDriver? = null

    override fun create(): ChipDriver = next ?: error("MockDriverFactory.next is not set")
}

/** A sim driver that runs [beforeCommInit] with its device id before each communicator init. */
internal abstract class CommHookDriver(
    private val beforeCommInit: (device: Int) -> Unit,
    private val sim: dev.strata.chip.sim.SimChipDriver = dev.strata.chip.sim.SimChipDriver(),
) : ChipDriver by sim {
    private var device = -1

    override fun open(deviceId: Int, config: ChipConfig) {
        device = deviceId
        sim.open(deviceId, config)
    }

    override fun commInit(spec: CommDomainSpec, rank: Int, rootInfo: ByteArray, timeout: kotlin.time.Duration): DeviceDomain {
        beforeCommInit(device)
        return sim.commInit(spec, rank, rootInfo, timeout)
    }
}

/** A sim driver whose communicator init fails on device 1. */
internal class FailingCommDriver : CommHookDriver({ if (it == 1) throw IllegalStateException("injected communicator failure on device $it") })

/** A sim driver whose communicator init takes 4 s on device 1 (a slow peer's bring-up). */
internal class SlowCommDriver : CommHookDriver({ if (it == 1) Thread.sleep(4_000) })

/** Names [SlowCommDriver] in a [ChipConfig]. */
internal object SlowCommDriverFactory : ChipDriverFactory {
    override fun create(): ChipDriver = SlowCommDriver()
}

/** Names [FailingCommDriver] in a [ChipConfig]. */
internal object FailingCommDriverFactory : ChipDriverFactory {
    override fun create(): ChipDriver = FailingCommDriver()
}

/** Shorthand: submit [callable] to [target] with [args]. */
internal suspend fun Orchestrator.on(target: Target, callable: TaskCallable, name: String? = null, args: TaskArgs.Builder.() -> Unit = {}) =
    submit(target, callable, TaskArgs.build(args), name)
