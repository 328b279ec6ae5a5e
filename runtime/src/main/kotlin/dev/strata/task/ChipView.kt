package dev.strata.task

import dev.strata.tensor.Tensor
import kotlinx.serialization.Serializable

/** [count] cores of one [type] (e.g. `aiv` vector cores, `aic` cube cores) of a chip. */
@Serializable
public data class CoreGroup(val type: String, val count: Int)

/**
 * The chip a task runs on, as its code sees it (`ctx.chip`): its cores for a level-2 program to submit
 * kernels to, and its communication domains. Available to chip callables and to kernels on its cores.
 *
 * An interface here, at the bottom of the engine, so that what a task sees never names the chip
 * runtime behind it (the chip package implements it). Thread-safe.
 */
public interface ChipView {
    /** The chip's path, e.g. `L3 chip#1`. */
    public val path: String

    /** The chip's index among its worker's chips. */
    public val index: Int

    /** The device the chip drives. */
    public val deviceId: Int

    /** The chip's driver: `sim` or `acl` (or a custom driver's name); programs pick their kernel binary by it. */
    public val driver: String

    /** The chip's cores, by type. */
    public val coreGroups: List<CoreGroup>

    /** Number of cores. */
    public val coreCount: Int

    /** Targets of every core, in order (`core(i)` of the level-2 program). */
    public val cores: List<Target>

    /** Targets of the cores of [type]; throws naming the types there are if there is none. */
    public fun cores(type: String): List<Target>

    /** Names of the domains this chip is a member of. */
    public val domains: Set<String>

    /** This chip's membership in domain [name]: rank, buffers, remote views and barrier. Throws naming its domains if it is not a member. */
    public fun comm(name: String): Comm

    /**
     * Kernel [kernel] of module [binary], loaded once per chip and cached: under `acl` a kernel binary
     * file (an absolute path), under `sim` the class name of a `SimKernelBinary`. Throws `ChipException`
     * naming the module and the kernel when either cannot be found.
     */
    public fun kernel(binary: String, kernel: String): Kernel

    /**
     * Queues [kernel] on the chip's stream with [blocks] blocks and the packed arguments [args], and returns
     * at once; [synchronize] (or the end of the chip task) waits for it. Launches run in order.
     */
    public fun launch(kernel: Kernel, blocks: Int, args: KernelArgs)

    /**
     * Waits for everything queued on the chip's stream, at most the chip's `syncTimeout`; throws the first
     * failure (naming the kernel). A chip task's queued work is synchronized when the task returns.
     */
    public fun synchronize()
}

/** A kernel of a loaded module on one chip ([ChipView.kernel]); valid while its chip is open. */
public class Kernel internal constructor(
    /** The module it came from. */
    public val binary: String,
    /** The kernel's name in the module. */
    public val name: String,
    internal val handle: Long,
) {
    override fun toString(): String = "Kernel($name of $binary)"
}

/** The reductions of a collective; the numbers are HCCL's `HcclReduceOp`. */
public enum class ReduceOp(public val code: Int) {
    SUM(0), PROD(1), MAX(2), MIN(3)
}

/**
 * A chip's side of a communication domain, for kernels and level-2 programs: its own named buffers, the
 * same buffer of any peer (a remote view: same offset in the peer's window), and a bounded barrier.
 */
public interface Comm {
    /** The domain's name. */
    public val name: String

    /** This chip's rank. */
    public val rank: Int

    /** Number of members. */
    public val ranks: Int

    /** Named buffer [buffer] of rank [peer]'s window (this chip's own by default). */
    public fun buffer(buffer: String, peer: Int = rank): Tensor

    /**
     * The view of [tensor] — a view of this chip's own window — at the same offset in rank [peer]'s window.
     * Throws if [tensor] is not in this chip's window of this domain.
     */
    public fun remote(tensor: Tensor, peer: Int): Tensor

    /**
     * Waits until every member of the domain reached this barrier, at most the chip's `commTimeout`.
     * Throws `CommunicationException` on timeout or when the domain broke (a member failed or died).
     */
    public fun barrier()

    /**
     * All-reduce on the device's own collective: every member's [send] combined by [op] into its [recv]
     * (device tensors of this chip, contiguous, same dtype and element count; they may be the same tensor).
     * Queued on the chip's stream like a launch; every member must call it, in the same order.
     */
    public fun allReduce(send: Tensor, recv: Tensor, op: ReduceOp = ReduceOp.SUM)
}

/**
 * What a task sees of the worker one level below its own (`ctx.worker`): something that runs programs.
 * `Worker` implements it; the interface lives down here so that a task, and the engine that runs it,
 * never name the `Worker` facade at the top (the hierarchy's recursion goes through this one type).
 */
public interface Runner {
    /** Runs [program] as a run and waits: returns when every task finished; throws the run's first error. */
    public fun run(program: suspend Orchestrator.() -> Unit)
}
