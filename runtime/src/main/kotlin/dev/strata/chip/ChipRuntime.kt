package dev.strata.chip

import dev.strata.error.ChipException
import dev.strata.error.CommunicationException
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
import java.util.concurrent.ExecutionException
import java.util.concurrent.ExecutorService
import java.util.concurrent.Executors
import java.util.concurrent.TimeUnit
import java.util.concurrent.TimeoutException
import dev.strata.task.Kernel
import dev.strata.task.KernelArgs
import dev.strata.task.ReduceOp
import dev.strata.task.ChipView

private val log = KotlinLogging.logger {}

/**
 * One chip as it runs — in a child JVM (the default) or in the host's JVM: its driver, its stream, its
 * level-2 engine (a `Worker(level = 2)` whose next-level children are the cores), and its domains. The
 * host reaches it through control requests (process) or directly (thread). Tasks sent to the chip run
 * here through [execute]; what the program launched is synchronized before the task ends. Where the
 * program runs depends on [programOnCaller]:
 * - false (a chip in the host's JVM): on the chip's own program thread, so that a hung program can be
 *   given up after [ChipConfig.syncTimeout] by the caller, who waits at most that long;
 * - true (a chip JVM): on the caller's thread, one thread hand-off and wake-up less per task (measured in
 *   docs/performance.md, issue 17). The caller then bounds the task itself: a watcher calls [overran] at
 *   the task's deadline, which makes the chip unusable, and interrupts the caller's thread.
 * Domains are brought up and released by the host ([commRootInfo], [commInit], [commRelease]).
 */
internal class ChipRuntime(
    val path: String,
    val index: Int,
    val config: ChipConfig,
    /** Creates the chip's driver (by the name in [config], normally). */
    private val driverFactory: () -> ChipDriver,
    /** Starts the chip's level-2 engine: a worker whose next-level children are the chip's cores. */
    private val startEngine: (ChipRuntime) -> ChipEngine,
    /** Whether [execute] runs the program on its caller's thread, which bounds it with [overran] (see the class). */
    private val programOnCaller: Boolean = false,
) : AutoCloseable {
    private var driver: ChipDriver? = null
    private val memory = Any() // memory operations, one at a time
    private val views = HashMap<Long, Buffer>() // chip-side buffer per device allocation (stable identity)
    val domains = java.util.concurrent.ConcurrentHashMap<String, Pair<CommDomainSpec, DeviceDomain>>()
    private val windowBuffers = java.util.concurrent.ConcurrentHashMap<String, Array<Buffer?>>()
    private val kernels = java.util.concurrent.ConcurrentHashMap<Pair<String, String>, Kernel>()
    private val binaries = java.util.concurrent.ConcurrentHashMap<String, Long>()
    @Volatile
    private var stream = 0L
    private var program: ExecutorService? = null
    lateinit var engine: ChipEngine
        private set
    val view: ChipView = RuntimeChipView(this)

    /** Whether the chip's own code can address its device memory (Kotlin kernels, remote views). */
    val hostAddressable: Boolean get() = driver is HostAddressable

    /** The driver's name (`sim`, `acl`). */
    val driverName: String get() = driver?.name ?: config.driver

    /** Why the chip can no longer run tasks, once it cannot. */
    @Volatile
    var unusable: String? = null
        private set

    private fun d(): ChipDriver = driver ?: throw ChipException(path, "use", "the chip is not open")

    /** Opens the device, creates its stream, starts the cores. Throws [ChipException] naming the step; closes what it opened. */
    fun start(): ChipRuntime {
        try {
            val drv = step("create driver '${config.driver}'") { driverFactory() }
            driver = drv
            step("open device ${config.deviceId}") { drv.open(config.deviceId, config) }
            stream = step("create stream") { drv.createStream() }
            if (!programOnCaller) program = Executors.newSingleThreadExecutor { r -> Thread(r, "strata-${path.replace(' ', '-')}-program").apply { isDaemon = true } }
            engine = startEngine(this)
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
    } catch (e: CommunicationException) {
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

    /** Root info for domain [spec] (this chip is its rank 0). */
    fun commRootInfo(spec: CommDomainSpec): ByteArray = step("root info of domain '${spec.name}'") { d().commRootInfo(spec) }

    /** Joins domain [spec] as [rank] from [rootInfo], within [timeout]. */
    fun commInit(spec: CommDomainSpec, rank: Int, rootInfo: ByteArray, timeout: kotlin.time.Duration) {
        check(!domains.containsKey(spec.name)) { "$path is already a member of domain '${spec.name}'" }
        val dd = step("communicator init of domain '${spec.name}' as rank $rank") { d().commInit(spec, rank, rootInfo, timeout) }
        domains[spec.name] = spec to dd
    }

    /** Leaves domain [name]; false if this chip was not a member. */
    fun commRelease(name: String): Boolean {
        val (_, dd) = domains.remove(name) ?: return false
        windowBuffers.remove(name)
        synchronized(memory) { views.remove(dd.windowBase) }
        dd.close()
        return true
    }

    /** The chip's context for the host. */
    fun contextWire(): ChipContextWire = ChipContextWire(
        config.deviceId,
        domains.values.map { (_, dd) -> ChipContextWire.DomainWire(dd.name, dd.rank, dd.ranks, dd.deviceContext, dd.windowBase, dd.windowSize) },
    )

    /**
     * The chip-side buffer for the device allocation (or window) at [base] of [bytes] bytes: a view the
     * chip's code can read where the driver is [HostAddressable], else device memory kernels get pointers to.
     */
    fun resolve(base: Long, bytes: Long, label: String): Buffer = synchronized(memory) {
        for ((name, pair) in domains) {
            val dd = pair.second
            if (base == dd.windowBase) return windowBuffer(name, dd.rank)
        }
        views[base]?.takeIf { it.byteSize == bytes }?.let { return it }
        val drv = d()
        val buffer = if (drv is HostAddressable) {
            val seg = step("access of [0x${base.toString(16)}, +$bytes B)") { drv.deviceView(base, bytes) }
            Buffer(bytes, AddressSpace.Host, Access.READ_WRITE, label, seg, deviceAddress = base)
        } else {
            Buffer.device(bytes, AddressSpace.Device(index), label, base)
        }
        buffer.also { views[base] = it }
    }

    /** Rank [r]'s window of domain [name] as a buffer of this chip (a peer's: a remote view, where the driver has them). */
    fun windowBuffer(name: String, r: Int): Buffer {
        val (spec, dd) = domains[name] ?: throw IllegalArgumentException("$path is not a member of domain '$name'; its domains are ${domains.keys}")
        val arr = windowBuffers.getOrPut(name) { arrayOfNulls(dd.ranks) }
        require(r in 0 until dd.ranks) { "rank $r outside 0 until ${dd.ranks} of domain '$name'" }
        if (r != dd.rank && !dd.remoteViews) {
            throw UnsupportedOperationException(
                "$path cannot view rank $r's window of domain '${spec.name}': driver '$driverName' has no remote views; " +
                    "use the device's collectives (Comm.allReduce) instead",
            )
        }
        return arr[r] ?: synchronized(windowBuffers) {
            arr[r] ?: (
                if (dd.remoteViews) {
                    Buffer(
                        dd.windowSize, AddressSpace.Host, Access.READ_WRITE,
                        if (r == dd.rank) "window '${spec.name}'" else "window '${spec.name}' of rank $r", dd.window(r),
                        deviceAddress = if (r == dd.rank) dd.windowBase else 0L,
                    )
                } else {
                    Buffer.device(dd.windowSize, AddressSpace.Device(index), "window '${spec.name}'", dd.windowBase)
                }
                ).also { arr[r] = it }
        }
    }

    /** [args] with every device tensor of this chip replaced by a view the chip's code can use (in-process chips of a host-addressable driver). */
    fun resolveArgs(args: TaskArgs): TaskArgs {
        if (!hostAddressable) return args
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

    /** Kernel [kernel] of module [binary], loading the module on first use. */
    fun kernel(binary: String, kernel: String): Kernel = kernels.getOrPut(binary to kernel) {
        val drv = d()
        val module = binaries.getOrPut(binary) { step("load of kernel binary '$binary'") { drv.loadBinary(binary) } }
        Kernel(binary, kernel, step("lookup of kernel '$kernel' in '$binary'") { drv.function(module, kernel) })
    }

    /** Queues [kernel] on the chip's stream. */
    fun launch(kernel: Kernel, blocks: Int, args: KernelArgs) {
        unusable?.let { throw ChipException(path, "launch", it) }
        require(blocks > 0) { "launch of ${kernel.name} with $blocks blocks; at least 1" }
        val packed = args.toByteArray()
        step("launch of kernel '${kernel.name}' ($blocks blocks, ${packed.size} B of arguments)") {
            java.lang.foreign.Arena.ofConfined().use { a ->
                val seg = a.allocate(packed.size.toLong(), 8)
                MemorySegment.copy(MemorySegment.ofArray(packed), 0, seg, 0, packed.size.toLong())
                d().launchKernel(kernel.handle, kernel.name, blocks, seg, stream)
            }
        }
    }

    /** Queues an all-reduce in domain [name] on the chip's stream. */
    fun allReduce(name: String, send: Tensor, recv: Tensor, op: ReduceOp) {
        unusable?.let { throw ChipException(path, "allReduce", it) }
        val (_, dd) = domains[name] ?: throw IllegalArgumentException("$path is not a member of domain '$name'; its domains are ${domains.keys}")
        require(send.isContiguous && recv.isContiguous) { "allReduce needs contiguous tensors: $send, $recv" }
        require(send.dtype == recv.dtype && send.elementCount == recv.elementCount) {
            "allReduce needs send and recv of one dtype and size: $send, $recv"
        }
        val s = KernelArgs.pointerOf(send)
        val r = KernelArgs.pointerOf(recv)
        step("allReduce of ${send.elementCount} ${send.dtype.name} in domain '$name'") {
            dd.allReduce(s, r, send.elementCount, send.dtype, op, stream)
        }
    }

    /**
     * Waits for the chip's stream under [ChipConfig.syncTimeout]; a timeout makes the chip unusable. After
     * a failure of the device work the stream is replaced (a failed stream stays failed on hardware), so
     * the chip's next task starts clean; if that fails too, the chip is unusable.
     */
    fun synchronize() {
        val drv = d()
        try {
            drv.synchronize(stream, config.syncTimeout)
        } catch (e: TimeoutException) {
            throw unusableAfter("queued device work", e)
        } catch (t: Throwable) {
            replaceStream(drv)
            if (t is ChipException) throw t
            throw ChipException(path, "synchronize", t.message ?: t.javaClass.name, t)
        }
    }

    private fun replaceStream(drv: ChipDriver) {
        try {
            runCatching { drv.destroyStream(stream) }
            stream = drv.createStream()
        } catch (t: Throwable) {
            unusable = "the chip is unusable since its stream failed and a new one could not be created (${t.message}); close the worker and start a new one"
        }
    }

    private fun unusableAfter(what: String, e: Exception): ChipException {
        val why = "$what did not finish within syncTimeout ${config.syncTimeout} (${e.message})"
        unusable = "the chip is unusable since $why; close the worker and start a new one"
        return ChipException(path, "synchronize", "$why; the chip is now unusable", e)
    }

    /**
     * Runs [callable] on the chip with [args] (device tensors already resolved), then synchronizes what it
     * queued, all under [ChipConfig.syncTimeout]. What the callable throws is rethrown; a timeout makes the
     * chip unusable. With [programOnCaller] the callable runs on this thread and the bound is the caller's
     * ([overran]); otherwise on the chip's program thread, and this thread waits at most the bound.
     */
    fun execute(callable: TaskCallable, args: TaskArgs, member: Int, groupSize: Int) {
        unusable?.let { throw ChipException(path, "launch", it) }
        val ctx = TaskContext(args, member, groupSize, path, engine, view)
        if (programOnCaller) {
            if (driver == null) throw ChipException(path, "launch", "the chip is not open")
            runProgram(callable, ctx)
            return
        }
        val exec = program ?: throw ChipException(path, "launch", "the chip is not open")
        val f = exec.submit { runProgram(callable, ctx) }
        try {
            f.get(config.syncTimeout.inWholeNanoseconds, TimeUnit.NANOSECONDS)
        } catch (e: ExecutionException) {
            throw e.cause ?: e
        } catch (e: TimeoutException) {
            f.cancel(true)
            throw unusableAfter("a task", e)
        } catch (e: InterruptedException) {
            f.cancel(true)
            throw e
        }
    }

    private fun runProgram(callable: TaskCallable, ctx: TaskContext) {
        try {
            callable.call(ctx)
        } catch (t: Throwable) {
            // Leave nothing running behind a failed program: the program's error is the one reported.
            runCatching { synchronize() }
            throw t
        }
        synchronize()
    }

    /**
     * For a caller that runs programs itself ([programOnCaller]): the task it runs did not end within
     * [ChipConfig.syncTimeout]. Makes the chip unusable and returns the error to report for that task (the
     * caller interrupts the task's thread; the chip refuses every later task).
     */
    fun overran(): ChipException = unusableAfter("a task", TimeoutException("the program ran for longer"))

    override fun close() {
        if (::engine.isInitialized) runCatching { engine.close() }.onFailure { log.warn(it) { "$path: closing the cores failed" } }
        program?.shutdownNow()
        program = null
        for (name in domains.keys.toList()) runCatching { commRelease(name) }
        driver?.let { runCatching { it.close() }.onFailure { e -> log.warn(e) { "$path: closing the driver failed" } } }
        driver = null
        kernels.clear()
        binaries.clear()
        synchronized(memory) { views.clear() }
    }
}

/** A chip's level-2 engine as its [ChipRuntime] uses it: runs the chip's programs on its cores; closed with the chip. */
internal interface ChipEngine : Runner, AutoCloseable
