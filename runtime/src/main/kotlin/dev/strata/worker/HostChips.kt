package dev.strata.worker

import dev.strata.graph.Task

import dev.strata.chip.ChipConfig
import dev.strata.chip.ChipContext
import dev.strata.chip.ChipContextWire
import dev.strata.chip.ChipRuntime
import dev.strata.error.ChipException
import dev.strata.error.RemoteException
import dev.strata.process.ControlOp
import dev.strata.process.ProcessEndpoint
import dev.strata.shm.SharedMemoryFile
import dev.strata.tensor.AddressSpace
import dev.strata.tensor.Buffer
import dev.strata.tensor.DType
import dev.strata.tensor.Tensor
import dev.strata.tensor.bytesOf
import kotlinx.serialization.json.Json
import java.lang.foreign.MemorySegment
import java.nio.ByteBuffer
import java.nio.ByteOrder
import java.util.concurrent.ConcurrentHashMap
import java.util.concurrent.ExecutionException
import java.util.concurrent.TimeUnit
import java.util.concurrent.TimeoutException
import dev.strata.chip.CommDomainSpec
import dev.strata.chip.CommJoin
import java.util.Base64
import kotlin.time.Duration
import kotlin.time.Duration.Companion.milliseconds

/** Which way a copy between host and device memory goes. */
internal enum class CopyDirection { TO_DEVICE, FROM_DEVICE }

/**
 * The host's operations on one chip, wherever the chip runs: in this JVM ([LocalChipPort]) or in a child
 * JVM, through control requests in its mailbox ([ProcessChipPort]). Failures are [ChipException]s naming
 * the chip and the operation.
 */
internal interface ChipPort {
    /** The chip's context as its runtime reports it. */
    fun context(): ChipContextWire

    /** Allocates [bytes] of device memory; returns the device pointer. */
    fun malloc(bytes: Long): Long

    /** Frees device memory at [pointer]. */
    fun free(pointer: Long)

    /** Copies [bytes] between the contiguous host tensor [host] and device memory at [pointer]. */
    fun copy(direction: CopyDirection, pointer: Long, host: Tensor, bytes: Long)

    /** Root info of domain [spec], created on this chip (its rank 0). */
    fun commRootInfo(spec: CommDomainSpec): ByteArray

    /** Joins domain [spec] as [rank]; returns once every member joined, or throws after [timeout]. */
    fun commInit(spec: CommDomainSpec, rank: Int, rootInfo: ByteArray, timeout: Duration)

    /** Leaves domain [name]. */
    fun commRelease(name: String)
}

/** A chip in this JVM: its runtime is called directly. */
internal class LocalChipPort(private val chip: ChipRuntime) : ChipPort {
    override fun context(): ChipContextWire = chip.contextWire()
    override fun malloc(bytes: Long): Long = chip.malloc(bytes)
    override fun free(pointer: Long) {
        chip.free(pointer)
    }

    override fun copy(direction: CopyDirection, pointer: Long, host: Tensor, bytes: Long) = when (direction) {
        CopyDirection.TO_DEVICE -> chip.copyToDevice(pointer, host.asSegment())
        CopyDirection.FROM_DEVICE -> chip.copyFromDevice(host.asSegment(), pointer)
    }

    override fun commRootInfo(spec: CommDomainSpec): ByteArray = chip.commRootInfo(spec)
    override fun commInit(spec: CommDomainSpec, rank: Int, rootInfo: ByteArray, timeout: Duration) = chip.commInit(spec, rank, rootInfo, timeout)
    override fun commRelease(name: String) {
        chip.commRelease(name)
    }
}

/**
 * A chip in a child JVM: each operation is a control request that queues behind the chip's running task,
 * so it may wait up to [timeoutMillis] (the chip's sync timeout plus the start-up timeout).
 */
internal class ProcessChipPort(private val endpoint: ProcessEndpoint, private val timeoutMillis: Long) : ChipPort {
    override fun context(): ChipContextWire =
        Json.decodeFromString(ChipContextWire.serializer(), String(control("context", ControlOp.CHIP_CONTEXT)))

    override fun malloc(bytes: Long): Long =
        ByteBuffer.wrap(control("malloc of $bytes B", ControlOp.MALLOC, "", bytes)).order(ByteOrder.LITTLE_ENDIAN).long

    override fun free(pointer: Long) {
        control("free of 0x${pointer.toString(16)}", ControlOp.FREE, "", pointer)
    }

    override fun copy(direction: CopyDirection, pointer: Long, host: Tensor, bytes: Long) {
        val toDevice = direction == CopyDirection.TO_DEVICE
        val what = if (toDevice) "copy of $bytes B to device" else "copy of $bytes B from device"
        val op = if (toDevice) ControlOp.COPY_TO else ControlOp.COPY_FROM
        val hb = host.buffer
        if (hb.sharedFile != null) { // the chip maps the host buffer's file itself: no staging copy
            control(what, op, hb.sharedFile, pointer, hb.sharedOffset + host.footprint.lo, bytes)
            return
        }
        val hostSeg = host.asSegment()
        SharedMemoryFile.create(maxOf(bytes, 1), "staging").use { staging ->
            if (toDevice) MemorySegment.copy(hostSeg, 0, staging.segment, 0, bytes)
            control(what, op, staging.path.toString(), pointer, 0, bytes)
            if (!toDevice) MemorySegment.copy(staging.segment, 0, hostSeg, 0, bytes)
        }
    }

    override fun commRootInfo(spec: CommDomainSpec): ByteArray =
        control("root info of domain '${spec.name}'", ControlOp.COMM_ROOT_INFO, Json.encodeToString(CommDomainSpec.serializer(), spec))

    override fun commInit(spec: CommDomainSpec, rank: Int, rootInfo: ByteArray, timeout: Duration) {
        val join = CommJoin(spec, rank, Base64.getEncoder().encodeToString(rootInfo), timeout.inWholeMilliseconds)
        // The chip bounds the join by [timeout] itself; the endpoint gives it that long plus a margin before it
        // declares the chip unresponsive (its usual control deadline may be shorter than a long bring-up).
        val deadline = timeout + DEADLINE_MARGIN_MS.milliseconds
        control(
            "communicator init of domain '${spec.name}' as rank $rank", ControlOp.COMM_INIT, Json.encodeToString(CommJoin.serializer(), join),
            waitMillis = maxOf(timeoutMillis, (deadline + DEADLINE_MARGIN_MS.milliseconds).inWholeMilliseconds), deadline = deadline,
        )
    }

    override fun commRelease(name: String) {
        control("release of domain '$name'", ControlOp.COMM_RELEASE, name)
    }

    /** Sends control [op]; turns failures into [ChipException]. */
    private fun control(what: String, op: ControlOp, text: String = "", vararg longs: Long, waitMillis: Long = timeoutMillis, deadline: Duration? = null): ByteArray {
        val f = endpoint.control(op, 0, text, *longs, deadline = deadline)
        return try {
            f.get(waitMillis, TimeUnit.MILLISECONDS)
        } catch (e: ExecutionException) {
            val c = e.cause ?: e
            val m = (c as? RemoteException)?.remoteMessage ?: c.message ?: c.javaClass.name
            throw ChipException(endpoint.path, what, m.substringAfter(" failed: ", m), c)
        } catch (e: TimeoutException) {
            throw ChipException(endpoint.path, what, "no answer within $waitMillis ms (the chip is busy or hung)", e)
        }
    }

    private companion object {
        /** How much longer the host waits than the chip's own bound, so the chip's error, not a bare timeout, arrives. */
        const val DEADLINE_MARGIN_MS = 5_000L
    }
}

/**
 * What the host does with its worker's chips (`Worker.chipContext`, `deviceTensor`, `freeDevice`, the
 * copies): checks the request, then goes through the chip's [ChipPort]. Thread-safe.
 */
internal class HostChips(private val config: WorkerConfig, private val children: WorkerChildren) {
    private val ports = arrayOfNulls<ChipPort>(config.nextLevel.size).also { ports ->
        for (i in ports.indices) {
            val chip = config.nextLevel[i] as? NextLevelChild.Chip ?: continue
            ports[i] = children.localChips[i]?.let { LocalChipPort(it) } ?: ProcessChipPort(
                children.nexts[i] as ProcessEndpoint, (chip.config.syncTimeout + config.startTimeout).inWholeMilliseconds,
            )
        }
    }

    /** Chips' contexts, fetched once and again after a domain came up or was released. */
    private val contexts = arrayOfNulls<ChipContext>(config.nextLevel.size)

    /** The chips' communication domains. */
    val domains = HostDomains(
        config.name,
        config.chipIndices.associateWith { (config.nextLevel[it] as NextLevelChild.Chip).config },
        children::nextPath,
        ::port,
    ).also { d ->
        for (i in config.chipIndices) (children.nexts[i] as? ProcessEndpoint)?.let { ep -> ep.onDied = { d.breakDomainsOf(i) } }
    }

    /** Brings up the domains of the worker's configuration, all under the start-up deadline; on failure releases those that came up. */
    fun bringUpConfiguredDomains() {
        try {
            for (d in config.domains) domains.create(d, config.startTimeout, atStart = true)
        } catch (t: Throwable) {
            for (name in domains.specs.keys.reversed()) runCatching { domains.release(name) }
            throw t
        }
    }

    /** Brings up domain [spec] now (between runs). */
    fun createDomain(spec: CommDomainSpec, timeout: Duration) {
        domains.create(spec, timeout)
        invalidateContexts(spec.chips)
    }

    /** Releases domain [name] (the caller waited for the runs that might use it). */
    fun releaseDomain(name: String) {
        val chips = domains.specs[name]?.chips
        try {
            domains.release(name)
        } finally {
            chips?.let { invalidateContexts(it) }
        }
    }

    private fun invalidateContexts(chips: List<Int>) = synchronized(contexts) { for (c in chips) contexts[c] = null }

    /** Device buffers handed out by [deviceTensor], by buffer id (to free them). */
    private val deviceBuffers = ConcurrentHashMap<Long, Buffer>()

    private fun chipConfig(chip: Int): ChipConfig {
        val c = config.nextLevel.getOrNull(chip) as? NextLevelChild.Chip ?: throw IllegalArgumentException(
            "${config.name} has no chip $chip; its chips are ${config.chipIndices.ifEmpty { "none" }}",
        )
        return c.config
    }

    private fun port(chip: Int): ChipPort {
        chipConfig(chip)
        return ports[chip]!!
    }

    fun chipContext(chip: Int): ChipContext {
        val cfg = chipConfig(chip)
        synchronized(contexts) { contexts[chip] }?.let { return it }
        val ctx = port(chip).context().toContext(chip, children.nextPath(chip), cfg, domains.specs)
        synchronized(contexts) { contexts[chip] = ctx }
        return ctx
    }

    fun deviceTensor(chip: Int, dtype: DType, shape: LongArray, label: String): Tensor {
        val port = port(chip)
        val bytes = maxOf(1, bytesOf(dtype, shape, "deviceTensor '$label' on chip $chip"))
        val buffer = Buffer.device(bytes, AddressSpace.Device(chip), label, port.malloc(bytes))
        deviceBuffers[buffer.id] = buffer
        return buffer.tensor(dtype, *shape)
    }

    fun freeDevice(tensor: Tensor) {
        val b = tensor.buffer
        val chip = (b.addressSpace as? AddressSpace.Device)?.worker
        require(chip != null && deviceBuffers.containsKey(b.id)) {
            "$tensor is not device memory from deviceTensor() of this worker (or it was freed already)"
        }
        b.users?.firstOrNull()?.let { user ->
            val task = user as? Task
            throw IllegalStateException(
                "cannot free '${b.label}' on chip $chip: $user${task?.let { " of run #${it.run.id}" } ?: ""} uses it and has not " +
                    "finished${b.users.size.takeIf { it > 1 }?.let { " (nor have ${it - 1} other task(s))" } ?: ""}; wait for the run " +
                    "(its handle's await or result), then free it",
            )
        }
        if (deviceBuffers.remove(b.id) == null) throw IllegalArgumentException("$tensor was freed already")
        b.isReleased = true
        port(chip).free(b.deviceAddress)
    }

    fun copy(device: Tensor, host: Tensor, direction: CopyDirection) {
        val db = device.buffer
        val chip = (db.addressSpace as? AddressSpace.Device)?.worker
            ?: throw IllegalArgumentException("$device is not device memory (copies go between a host tensor and a device tensor)")
        val port = port(chip)
        require(host.buffer.addressSpace == AddressSpace.Host && host.buffer.segment != null) { "$host is not host memory" }
        require(device.isContiguous && host.isContiguous) { "copies need contiguous tensors: $device, $host" }
        val bytes = device.elementCount * device.dtype.byteSize
        require(host.elementCount * host.dtype.byteSize == bytes) {
            "$host has ${host.elementCount * host.dtype.byteSize} B and $device has $bytes B; a copy needs the same size"
        }
        require(!db.isReleased) { "$device was freed" }
        port.copy(direction, db.deviceAddress + device.footprint.lo, host, bytes)
    }
}
