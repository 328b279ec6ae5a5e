package dev.strata.chip

import dev.strata.tensor.AddressSpace
import dev.strata.tensor.Buffer
import dev.strata.tensor.Tensor
import kotlinx.serialization.Serializable
import dev.strata.task.CoreGroup

/**
 * What the orchestration code knows about chip [chip] once the worker started (DESIGN.md §9, seed
 * pr613): its device, its cores, and its membership in each communication domain. Immutable.
 */
public class ChipContext internal constructor(
    /** The chip's index among the worker's next-level children (`chip(i)`). */
    public val chip: Int,
    /** The chip's path in errors, e.g. `L3 chip#1`. */
    public val path: String,
    /** The device the driver opened. */
    public val deviceId: Int,
    /** The chip's cores, by type. */
    public val cores: List<CoreGroup>,
    /** The chip's domains, by name. */
    public val domains: Map<String, DomainContext>,
) {
    /** The chip's context in domain [name]; throws naming the domains it is in if it is not in that one. */
    public fun domain(name: String): DomainContext = domains[name] ?: throw IllegalArgumentException(
        "$path is not a member of domain '$name'; its domains are ${domains.keys.ifEmpty { setOf("none") }}",
    )

    override fun toString(): String = "ChipContext($path, device $deviceId, domains=${domains.keys})"
}

/**
 * One chip's membership in a communication domain: its [rank] among [ranks], the device-side communicator
 * context handle, its window, and the named buffers carved from the window — device tensors of this chip,
 * to pass to its tasks (where kernels reach the same buffer of a peer with `Comm.remote`).
 */
public class DomainContext internal constructor(
    public val name: String,
    public val rank: Int,
    public val ranks: Int,
    /** Device pointer of the device-side communicator context. */
    public val deviceContext: Long,
    /** Device pointer of this chip's window. */
    public val windowBase: Long,
    /** The window's actual size (the requested size rounded up by the driver). */
    public val windowSize: Long,
    /** The named buffers of this chip's window, as device tensors. */
    public val buffers: Map<String, Tensor>,
) {
    /** Named buffer [name]; throws naming the declared buffers otherwise. */
    public fun buffer(name: String): Tensor = buffers[name] ?: throw IllegalArgumentException(
        "domain '${this.name}' has no buffer '$name'; it declares ${buffers.keys.ifEmpty { setOf("none") }}",
    )

    override fun toString(): String = "DomainContext($name, rank $rank of $ranks, window 0x${windowBase.toString(16)} +$windowSize B)"
}

/** A chip's context as it crosses from the chip (maybe another JVM) to the host. */
@Serializable
internal data class ChipContextWire(val deviceId: Int, val domains: List<DomainWire>) {
    @Serializable
    data class DomainWire(val name: String, val rank: Int, val ranks: Int, val deviceContext: Long, val windowBase: Long, val windowSize: Long)

    /** The host's view: named buffers become device tensors of chip [chip], one window buffer per domain. */
    fun toContext(chip: Int, path: String, config: ChipConfig, specs: Map<String, CommDomainSpec>): ChipContext =
        ChipContext(
            chip, path, deviceId, config.cores,
            domains.associate { d ->
                val spec = specs.getValue(d.name)
                val window = Buffer.device(d.windowSize, AddressSpace.Device(chip), "window '${d.name}' of $path", d.windowBase)
                val offsets = spec.offsets
                d.name to DomainContext(
                    d.name, d.rank, d.ranks, d.deviceContext, d.windowBase, d.windowSize,
                    spec.buffers.associate { b ->
                        b.name to window.view(b.dtype, offsets.getValue(b.name) / b.dtype.byteSize, longArrayOf(b.count), longArrayOf(1))
                    },
                )
            },
        )
}

/** What the host tells a chip to join a domain: the spec, its rank, the root's info (Base64) and the bound of the bring-up. */
@Serializable
internal data class CommJoin(val spec: CommDomainSpec, val rank: Int, val rootInfo: String, val timeoutMillis: Long)
