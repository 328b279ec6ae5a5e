package dev.strata.chip

import dev.strata.error.ChipException
import dev.strata.task.Runner
import dev.strata.task.TaskArgs
import dev.strata.task.TaskCallable
import dev.strata.task.TaskContext
import dev.strata.tensor.Access
import dev.strata.tensor.AddressSpace
import dev.strata.tensor.Buffer
import dev.strata.tensor.Tensor
import io.github.oshai.kotlinlogging.KotlinLogging
import java.lang.foreign.MemorySegment
import java.util.concurrent.TimeoutException
import dev.strata.task.ChipView

private val log = KotlinLogging.logger {}

/**
 * One chip as it runs — in a child JVM (the default) or in the host's JVM: its driver, its level-2
 * engine (a `Worker(level = 2)` whose next-level children are the cores), and its domains. The host
 * reaches it through control requests (process) or directly (thread); tasks sent to the chip run here
 * through [execute], which launches them on the device and synchronizes with the chip's timeout.
 */
internal class ChipRuntime(
    val path: String,
    val index: Int,
    val config: ChipConfig,
    private val memberships: List<DomainMembership>,
    /** Bound of the domains' bring-up barrier: the parent's start-up deadline (peers may start slowly). */
    private val bringUpTimeout: kotlin.time.Duration,
    /** Creates the chip's driver (by the name in [config], normally). */
    private val driverFactory: () -> ChipDriver,
    /** Starts the chip's level-2 engine: a worker whose next-level children are the chip's cores. */
    private val startEngine: (ChipRuntime) -> ChipEngine,
) : AutoCloseable {
    private var driver: ChipDriver? = null
    private val memory = Any() // memory operations, one at a time
    private val views = HashMap<Long, Buffer>() // chip-side buffer per device allocation (stable identity)
    val domains = LinkedHashMap<String, Pair<DomainMembership, DeviceDomain>>()
    private val windowBuffers = HashMap<String, Array<Buffer?>>()
    lateinit var engine: ChipEngine
        private set
    val view: ChipView = RuntimeChipView(this)

    /** Why the chip can no longer run tasks, once it cannot. */
    @Volatile
    var unusable: String? = null
        private set

    private fun d(): ChipDriver = driver ?: throw ChipException(path, "use", "the chip is not open")

    /** Opens the device, starts the cores, brings up every domain. Throws [ChipException] naming the step; closes what it opened. */
    fun start(): ChipRuntime {
        try {
            val drv = step("create driver '${config.driver}'") { driverFactory() }
            driver = drv
            step("open device ${config.deviceId}") { drv.open(config.deviceId, config) }
            engine = startEngine(this)
            for (m in memberships) {
                domains[m.spec.name] = m to step("communicator init of domain '${m.spec.name}' as rank ${m.rank}") {
                    drv.commInit(m.spec, m.rank, m.rendezvous, bringUpTimeout)
                }
            }
            return this
        } catch (t: Throwable) {
            close()
            throw t
        }
    }

    private inline fun <T> step(what: String, body: () -> T): T = try {
        body()
    } catch (e: ChipException) {
        throw e
    } catch (t: Throwable) {
        throw ChipException(path, what, t.message ?: t.javaClass.name, t)
    }

    fun malloc(bytes: Long): Long = synchronized(memory) { step("malloc of $bytes B") { d().malloc(bytes) } }

    fun free(pointer: Long) = synchronized(memory) {
        step("free of 0x${pointer.toString(16)}") { d().free(pointer) }
        views.remove(pointer)
    }

    fun copyToDevice(pointer: Long, source: MemorySegment) = synchronized(memory) {
        step("copy of ${source.byteSize()} B to device 0x${pointer.toString(16)}") { d().copyToDevice(pointer, source) }
    }

    fun copyFromDevice(destination: MemorySegment, pointer: Long) = synchronized(memory) {
        step("copy of ${destination.byteSize()} B from device 0x${pointer.toString(16)}") { d().copyFromDevice(destination, pointer) }
    }

    /** The chip's context for the host. */
    fun contextWire(): ChipContextWire = ChipContextWire(
        config.deviceId,
        domains.values.map { (m, dd) -> ChipContextWire.DomainWire(m.spec.name, dd.rank, dd.ranks, dd.deviceContext, dd.windowBase, dd.windowSize) },
    )

    /** The chip-side buffer for the device allocation (or window) at [base] of [bytes] bytes. */
    fun resolve(base: Long, bytes: Long, label: String): Buffer = synchronized(memory) {
        for ((name, pair) in domains) {
            val dd = pair.second
            if (base == dd.windowBase) return windowBuffer(name, dd.rank)
        }
        views[base]?.takeIf { it.byteSize == bytes }?.let { return it }
        val seg = step("access of [0x${base.toString(16)}, +$bytes B)") { d().deviceView(base, bytes) }
        Buffer(bytes, AddressSpace.Host, Access.READ_WRITE, label, seg).also { views[base] = it }
    }

    /** Rank [r]'s window of domain [name] as a buffer this chip's code can read and write. */
    fun windowBuffer(name: String, r: Int): Buffer {
        val (m, dd) = domains[name] ?: throw IllegalArgumentException("$path is not a member of domain '$name'; its domains are ${domains.keys}")
        val arr = synchronized(windowBuffers) { windowBuffers.getOrPut(name) { arrayOfNulls(dd.ranks) } }
        require(r in 0 until dd.ranks) { "rank $r outside 0 until ${dd.ranks} of domain '$name'" }
        return arr[r] ?: synchronized(windowBuffers) {
            arr[r] ?: Buffer(
                dd.windowSize, AddressSpace.Host, Access.READ_WRITE,
                if (r == dd.rank) "window '${m.spec.name}'" else "window '${m.spec.name}' of rank $r", dd.window(r),
            ).also { arr[r] = it }
        }
    }

    /** [args] with every device tensor of this chip replaced by a view the chip's code can use (in-process chips). */
    fun resolveArgs(args: TaskArgs): TaskArgs {
        var any = false
        for (i in 0 until args.tensorCount) if (args.tensor(i).buffer.addressSpace is AddressSpace.Device) any = true
        if (!any) return args
        val b = TaskArgs.Builder()
        for (i in 0 until args.tensorCount) {
            val a = args.arg(i)
            val t = a.tensor
            val buf = t.buffer
            if (buf.addressSpace is AddressSpace.Device) {
                val local = resolve(buf.deviceAddress, buf.byteSize, buf.label)
                b.add(Tensor(local, t.byteOffset, t.shape, t.strides, t.dtype), a.tag)
            } else {
                b.add(t, a.tag)
            }
        }
        for (i in 0 until args.scalarCount) b.scalar(args.scalar(i))
        return b.build()
    }

    /**
     * Runs [callable] on the chip with [args] (device tensors already resolved): launch, then synchronize
     * under [ChipConfig.syncTimeout]. What the callable throws is rethrown; a timeout makes the chip unusable.
     */
    fun execute(callable: TaskCallable, args: TaskArgs, member: Int, groupSize: Int) {
        unusable?.let { throw ChipException(path, "launch", it) }
        val drv = d()
        val ctx = TaskContext(args, member, groupSize, path, engine, view)
        step("launch") { drv.launch(callable, ctx) }
        try {
            drv.synchronize(config.syncTimeout)
        } catch (e: TimeoutException) {
            val why = "a task did not finish within syncTimeout ${config.syncTimeout} (${e.message})"
            unusable = "the chip is unusable since $why; close the worker and start a new one"
            throw ChipException(path, "synchronize", "$why; the chip is now unusable", e)
        }
    }

    override fun close() {
        if (::engine.isInitialized) runCatching { engine.close() }.onFailure { log.warn(it) { "$path: closing the cores failed" } }
        for ((_, dd) in domains.values) runCatching { dd.close() }
        domains.clear()
        driver?.let { runCatching { it.close() }.onFailure { e -> log.warn(e) { "$path: closing the driver failed" } } }
        driver = null
        synchronized(memory) { views.clear() }
    }
}

/** A chip's level-2 engine as its [ChipRuntime] uses it: runs the chip's programs on its cores; closed with the chip. */
internal interface ChipEngine : Runner, AutoCloseable
