package dev.strata.chip

import dev.strata.task.ChipView
import dev.strata.task.Comm
import dev.strata.task.CoreGroup
import dev.strata.task.Kernel
import dev.strata.task.KernelArgs
import dev.strata.task.ReduceOp
import dev.strata.task.Target
import dev.strata.tensor.Tensor

/**
 * The chip a task runs on, as its code sees it (`ctx.chip`): its cores for a level-2 program to submit
 * kernels to, and its communication domains. Available to chip callables and to kernels on its cores.
 */
internal class RuntimeChipView(private val runtime: ChipRuntime) : ChipView {
    /** The chip's path, e.g. `L3 chip#1`. */
    override val path: String get() = runtime.path

    /** The chip's index among its worker's chips. */
    override val index: Int get() = runtime.index

    /** The device the chip drives. */
    override val deviceId: Int get() = runtime.config.deviceId

    override val driver: String get() = runtime.driverName

    /** The chip's cores, by type. */
    override val coreGroups: List<CoreGroup> get() = runtime.config.cores

    /** Number of cores. */
    override val coreCount: Int get() = runtime.config.coreCount

    /** Targets of every core, in order (`core(i)` of the level-2 program). */
    override val cores: List<Target> get() = List(coreCount) { Target.Next(it) }

    /** Targets of the cores of [type]; throws naming the types there are if there is none. */
    override fun cores(type: String): List<Target> {
        var at = 0
        for (g in coreGroups) {
            if (g.type == type) return List(g.count) { Target.Next(at + it) }
            at += g.count
        }
        throw IllegalArgumentException("$path has no '$type' cores; it has ${coreGroups.joinToString { "${it.count} ${it.type}" }}")
    }

    /** Names of the domains this chip is a member of. */
    override val domains: Set<String> get() = runtime.domains.keys

    /** This chip's membership in domain [name]: rank, buffers, remote views and barrier. */
    override fun comm(name: String): Comm {
        val (spec, dd) = runtime.domains[name] ?: throw IllegalArgumentException(
            "$path is not a member of domain '$name'; its domains are ${runtime.domains.keys.ifEmpty { setOf("none") }}",
        )
        return DomainComm(runtime, spec, dd)
    }

    override fun kernel(binary: String, kernel: String): Kernel = runtime.kernel(binary, kernel)

    override fun launch(kernel: Kernel, blocks: Int, args: KernelArgs): Unit = runtime.launch(kernel, blocks, args)

    override fun synchronize(): Unit = runtime.synchronize()

    override fun toString(): String = "ChipView($path)"
}

/**
 * A chip's side of a communication domain, for kernels and level-2 programs: its own named buffers, the
 * same buffer of any peer (a remote view: same offset in the peer's window), and a bounded barrier.
 */
internal class DomainComm(
    private val runtime: ChipRuntime,
    private val spec: CommDomainSpec,
    private val device: DeviceDomain,
) : Comm {
    /** The domain's name. */
    override val name: String get() = spec.name

    /** This chip's rank. */
    override val rank: Int get() = device.rank

    /** Number of members. */
    override val ranks: Int get() = device.ranks

    /** Named buffer [buffer] of rank [peer]'s window (this chip's own by default). */
    override fun buffer(buffer: String, peer: Int): Tensor {
        val b = spec.buffers.firstOrNull { it.name == buffer } ?: throw IllegalArgumentException(
            "domain '$name' has no buffer '$buffer'; it declares ${spec.buffers.map { it.name }}",
        )
        return runtime.windowBuffer(name, peer).view(b.dtype, spec.offsets.getValue(buffer) / b.dtype.byteSize, longArrayOf(b.count), longArrayOf(1))
    }

    /**
     * The view of [tensor] — a view of this chip's own window — at the same offset in rank [peer]'s window.
     * Throws if [tensor] is not in this chip's window of this domain.
     */
    override fun remote(tensor: Tensor, peer: Int): Tensor {
        val own = runtime.windowBuffer(name, rank)
        require(tensor.buffer === own) { "$tensor is not in ${runtime.path}'s window of domain '$name'; remote views start from the own window" }
        if (peer == rank) return tensor
        return Tensor(runtime.windowBuffer(name, peer), tensor.byteOffset, tensor.shape, tensor.strides, tensor.dtype)
    }

    /**
     * Waits until every member of the domain reached this barrier, at most the chip's `commTimeout`.
     * Throws [dev.strata.error.CommunicationException] on timeout or when the domain broke (a member failed or died).
     */
    override fun barrier(): Unit = device.barrier(runtime.config.commTimeout)

    override fun allReduce(send: Tensor, recv: Tensor, op: ReduceOp): Unit = runtime.allReduce(name, send, recv, op)

    override fun toString(): String = "Comm($name, rank $rank of $ranks)"
}
