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
