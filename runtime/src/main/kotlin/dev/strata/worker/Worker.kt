package dev.strata.worker

import dev.strata.endpoint.Endpoint
import dev.strata.endpoint.TaskRunner
import dev.strata.endpoint.ThreadEndpoint
import dev.strata.graph.HeapRing
import dev.strata.record.TaskGraph
import dev.strata.record.GraphReplay
import dev.strata.graph.Scope
import dev.strata.graph.Task
import dev.strata.graph.TaskState
import dev.strata.error.BackPressureTimeoutException
import dev.strata.run.Engine
import dev.strata.task.Orchestrator
import dev.strata.run.RunBuilder
import dev.strata.graph.Run
import dev.strata.run.RunHandle
import dev.strata.run.SubmitValidation
import dev.strata.error.WorkerClosedException
import dev.strata.schedule.Scheduler
import dev.strata.shm.SharedMemoryFile
import dev.strata.process.CallableRegistry
import dev.strata.process.ChildPlan
import dev.strata.process.ProcessChildren
import dev.strata.process.ProcessEndpoint
import dev.strata.process.TaskWire
import dev.strata.error.InvalidCallableException
import dev.strata.task.Runner
import dev.strata.task.TaskCallable
import dev.strata.task.Target
import dev.strata.tensor.Access
import dev.strata.tensor.AddressSpace
import dev.strata.tensor.Buffer
import dev.strata.tensor.DType
import dev.strata.tensor.Tensor
import dev.strata.chip.ChipConfig
import dev.strata.chip.ChipContext
import dev.strata.chip.ChipContextWire
import dev.strata.chip.ChipRuntime
import dev.strata.task.ChipView
import dev.strata.chip.DomainMembership
import dev.strata.chip.sim.SimCommDomain
import dev.strata.process.ChipChildSpec
import dev.strata.error.ChipException
import dev.strata.error.SchedulerStallException
import dev.strata.error.WorkerStartException
import dev.strata.schedule.StallWatchdog
import io.github.oshai.kotlinlogging.KotlinLogging
import java.lang.foreign.MemorySegment
import java.util.concurrent.CompletableFuture
import kotlinx.serialization.json.Json
import kotlinx.coroutines.runBlocking
import kotlinx.coroutines.withTimeoutOrNull
import kotlin.time.Duration.Companion.nanoseconds
import kotlin.time.Duration.Companion.seconds
import java.util.concurrent.ConcurrentHashMap
import java.util.concurrent.TimeUnit
import java.util.concurrent.atomic.AtomicBoolean
import java.util.concurrent.atomic.AtomicLong
import java.util.concurrent.locks.ReentrantLock
import kotlin.concurrent.withLock
import dev.strata.error.RemoteException
import dev.strata.endpoint.Dispatch

private val log = KotlinLogging.logger {}

/**
 * A worker at one level of the hierarchy: it builds runs into a task DAG and executes them on its
 * children — a pool of host sub workers and directed next-level children (DESIGN.md §1–6).
 *
 * Guarantees:
 * - tasks of a run leave memory exactly as if they ran one by one in submission order
 *   (read-after-write, write-after-write and write-after-read are inferred from tensor footprints);
 * - at most two runs are admitted at once: the next one builds while the current one executes, a
 *   third `submit` blocks until the first finished; runs execute in admission order;
 * - a run's first task error fails it ([dev.strata.error.TaskFailedException]); tasks that had not
 *   started are skipped; the next run is unaffected;
 * - idle workers park their threads: no CPU is used between runs beyond a short spin.
 *
 * Thread-safe. Close it (it is [AutoCloseable]) to stop its threads and its nested workers.
 */
public class Worker internal constructor(config: WorkerConfig, chipView: ChipView?) : Runner, AutoCloseable {
    /** Creates and starts a worker from [config] (every child started and ready before this returns). */
    public constructor(config: WorkerConfig) : this(config, null)

    /** The validated configuration. */
    public val config: WorkerConfig = config.validate()

    /** The worker's level. */
    public val level: Int get() = config.level

    /** Its path in errors, e.g. `L3`. */
    public val path: String get() = config.name

    internal val core = WorkerCore(this.config, chipView)

    /** True once [close] was called. */
    public val isClosed: Boolean get() = core.closed.get()

    /** Number of host sub workers. */
    public val subWorkerCount: Int get() = config.subWorkers

    /** Number of next-level children. */
    public val nextLevelCount: Int get() = config.nextLevel.size

    /**
     * Starts a run: calls [program] on the calling thread to build the DAG (suspending only under
     * back-pressure), and returns once the program returned, while tasks may still be running.
     * If the program throws, tasks not yet started are skipped, running ones finish, and the exception
     * is rethrown here. Blocks while two runs are already admitted.
     *
     * @throws WorkerClosedException if the worker is closed.
     */
    public fun submit(program: suspend Orchestrator.() -> Unit): RunHandle = core.submit(program)

    /** [submit] then wait: returns when every task finished; throws the run's first error. */
    override fun run(program: suspend Orchestrator.() -> Unit) {
        submit(program).result()
    }

    /**
     * Starts a replay of [graph] as a run (issue 5 §2): every parameter bound to the tensor of the same
     * name in [bindings], the recorded tasks submitted again without inferring their dependencies.
     * Bindings are checked first, all at once: a missing, unknown, mistyped, misshapen or overlapping
     * binding, or one a target cannot address, throws [dev.strata.error.GraphBindingException] and nothing runs.
     */
    public fun submit(graph: TaskGraph, bindings: Map<String, Tensor> = emptyMap()): RunHandle {
        val replay = GraphReplay.of(graph, bindings, core)
        return submit { (this as RunBuilder).replay(replay) }
    }

    /** [submit] of [graph] then wait: returns when every task finished; throws the run's first error. */
    public fun run(graph: TaskGraph, bindings: Map<String, Tensor> = emptyMap()) {
        submit(graph, bindings).result()
    }

    /** A zeroed host tensor owned by the caller (not by a scope), usable by every run of this worker. */
    public fun hostTensor(dtype: DType, vararg shape: Long, label: String = "host", access: Access = Access.READ_WRITE): Tensor {
        val bytes = shape.fold(dtype.byteSize.toLong()) { acc, n -> acc * n }
        return core.hostBuffer(bytes, label, access).tensor(dtype, *shape)
    }

    /**
     * Registers [callable] with every child process now, so its first task does not pay for loading it
     * (callables are otherwise sent on first use). Throws [dev.strata.error.InvalidCallableException] if it
     * has no stable name (a lambda) or a child cannot load it. No effect without child processes.
     */
    public fun register(callable: TaskCallable): Unit = core.register(callable)

    /**
     * Pings every child process through its mailbox; returns each one's round trip, or null for a child
     * that did not answer within [timeout] (dead, or busy with a long task). Empty without child processes.
     */
    public fun ping(timeout: kotlin.time.Duration = 5.seconds): Map<String, kotlin.time.Duration?> = core.ping(timeout)

    /** Number of chips among the next-level children. */
    public val chipCount: Int get() = config.chipIndices.size

    /**
     * Chip [chip]'s context: device, cores, and its rank, window and named buffers in each communication
     * domain (DESIGN.md §9). Ready as soon as the worker is: every chip brought its domains up first.
     */
    public fun chipContext(chip: Int): ChipContext = core.chipContext(chip)

    /**
     * Allocates device memory on chip [chip] and returns a contiguous tensor over it. Device memory is
     * the chip's own: the host reaches it only through [copyToDevice] / [copyFromDevice], and tasks can use
     * it only on that chip (a submit to any other target is rejected). Freed by [freeDevice] or when the
     * worker closes. Throws [dev.strata.error.ChipException] if the driver's malloc fails.
     */
    public fun deviceTensor(chip: Int, dtype: DType, vararg shape: Long, label: String = "device"): Tensor =
        core.deviceTensor(chip, dtype, shape, label)

    /** Frees the device memory of [tensor] (a tensor from [deviceTensor]); tasks can no longer use it. */
    public fun freeDevice(tensor: Tensor): Unit = core.freeDevice(tensor)

    /**
     * Copies [host] into [device] (both contiguous, the same number of bytes). Call it between runs: a
     * copy is not ordered with the tasks of a run in flight (in a child JVM it waits behind the chip's
     * current task).
     */
    public fun copyToDevice(device: Tensor, host: Tensor): Unit = core.copy(device, host, toDevice = true)

    /** Copies [device] into [host] (both contiguous, the same number of bytes); see [copyToDevice]. */
    public fun copyFromDevice(host: Tensor, device: Tensor): Unit = core.copy(device, host, toDevice = false)

    /** Process ids of the child JVMs, by path (diagnostics). Empty without child processes. */
    public val childPids: Map<String, Long>
        get() = core.processes?.endpoints?.associate { it.path to (it.process?.pid() ?: -1L) } ?: emptyMap()

    /**
     * Stops the worker: refuses new runs, waits up to `closeTimeout` for runs in flight (then cancels
     * them), stops the scheduler and every child thread, and closes nested workers. Idempotent.
     */
    override fun close() {
        core.close()
    }

    override fun toString(): String = "Worker($path, subs=${config.subWorkers}, next=${config.nextLevel.size})"
}

/** The engine behind a [Worker]: rings, admission, scheduler and endpoints. */
internal class WorkerCore(private val config: WorkerConfig, private val chipView: ChipView? = null) : Engine, Scheduler.Hooks {
    val closed = AtomicBoolean(false)
    private val spinNanos = config.spin.inWholeNanoseconds
    private val taskIds = AtomicLong()
    private val runIds = AtomicLong()
    private val admission = java.util.concurrent.Semaphore(RUNS_IN_FLIGHT)
    private val buildLock = ReentrantLock()
    private val slots = SlotPool(config.taskWindow)
    private val activeRuns = ConcurrentHashMap.newKeySet<Run>()

    /** Callables of process children by stable name; those in the config are checked (and fail) here. */
    val callables = CallableRegistry().also { r -> config.callables.forEach { r.idFor(it) } }

    /** With child processes, host memory handed out by the worker is shared memory they can map. */
    val sharedMemory: Boolean = config.hasProcessChildren
    private val subsInProcesses = config.subIsolation == Isolation.PROCESS
    private val nextInProcess = BooleanArray(config.nextLevel.size) { config.isProcess(it) }
    private val heapRings = Array(Scope.HEAP_RINGS) { HeapRing(it, config.heapRingBytes, sharedMemory) }
    private val sharedFiles = ConcurrentHashMap.newKeySet<SharedMemoryFile>()

    override val validation = SubmitValidation(config.subWorkers, config.nextLevel.size, subsInProcesses, nextInProcess)

    /** Simulated communication domains, one shared file each, created before any chip starts; by name. */
    private val commFiles = LinkedHashMap<String, SimCommDomain>()

    /** The domains of each chip, by next-level index. */
    private val memberships = HashMap<Int, MutableList<DomainMembership>>()

    /** The worker's child processes, started (all ready) before anything else; null without any. */
    val processes: ProcessChildren?

    /** Chips in this JVM, by next-level index. */
    private val localChips = arrayOfNulls<ChipRuntime>(config.nextLevel.size)

    private val subs: Array<Endpoint>
    private val nexts: Array<Endpoint>

    /** Path of next-level child [i] in errors: `L4 node#1`. */
    private fun nextPath(i: Int) = "${config.name} ${WorkerConfig.childKind(config.level)}#$i"

    /** Chips' contexts, fetched once. */
    private val contexts = arrayOfNulls<ChipContext>(config.nextLevel.size)

    /** Device buffers handed out by [deviceTensor], by buffer id (to free them). */
    private val deviceBuffers = ConcurrentHashMap<Long, Buffer>()

    /**
     * A worker with a stall budget (a chip's engine, or a host worker that asked for one): its in-process
     * children report progress to a [StallWatchdog].
     */
    private val tracked = config.stallTimeout != null

    init {
        var started: ProcessChildren? = null
        try {
            bringUpDomains()
            started = startProcesses()
            startLocalChips()
            var k = 0
            subs = Array(config.subWorkers) { i ->
                if (subsInProcesses) started!!.endpoints[k++] else subEndpoint(i)
            }
            val built = ArrayList<Worker>()
            try {
                nexts = Array(config.nextLevel.size) { i ->
                    if (nextInProcess[i]) {
                        started!!.endpoints[k++].also { ep ->
                            if (config.nextLevel[i] is NextLevelChild.Chip) ep.onDied = { breakDomainsOf(i) }
                        }
                    } else {
                        val nested = when (val child = config.nextLevel[i]) {
                            is NextLevelChild.Nested -> child.worker
                            is NextLevelChild.Config -> Worker(child.config).also { built += it }
                            NextLevelChild.Plain, is NextLevelChild.Chip -> null
                        }
                        nextEndpoint(i, nested)
                    }
                }
            } catch (t: Throwable) {
                built.forEach { runCatching { it.close() } }
                throw t
            }
        } catch (t: Throwable) {
            started?.close(config.closeTimeout.inWholeMilliseconds)
            localChips.forEach { c -> c?.let { runCatching { it.close() } } }
            commFiles.values.forEach { it.close() }
            throw t
        }
        processes = started
    }

    /** Sub worker [i] on a thread of this JVM. */
    private fun subEndpoint(i: Int): Endpoint {
        val path = "${config.name} sub#$i"
        return ThreadEndpoint(path, i, spinNanos, TaskRunner.calling(path, chip = chipView), tracked = tracked)
    }

    /** Next-level child [i] on a thread of this JVM: a chip's tasks launch on it, others are called with [nested] as `ctx.worker`. */
    private fun nextEndpoint(i: Int, nested: Worker?): Endpoint {
        val path = nextPath(i)
        val chip = localChips[i]
        val runner = if (chip != null) {
            TaskRunner { t, m -> chip.execute(t.callable!!, chip.resolveArgs(t.members[m]), m, t.members.size) }
        } else {
            TaskRunner.calling(path, nested, chipView)
        }
        return ThreadEndpoint(path, i, spinNanos, runner, owned = chip ?: nested, tracked = tracked)
    }

    /** Creates each domain's rendezvous (a simulated domain's shared file) and every chip's membership. */
    private fun bringUpDomains() {
        for (d in config.domains) {
            val sim = d.chips.all { (config.nextLevel[it] as NextLevelChild.Chip).config.driver == ChipConfig.SIM }
            val rendezvous = if (sim) {
                SimCommDomain.create(d.name, d.chips.size, d.windowBytes).also { commFiles[d.name] = it }.path.toString()
            } else {
                ""
            }
            d.chips.forEachIndexed { rank, chip -> memberships.getOrPut(chip) { ArrayList() } += DomainMembership(d, rank, rendezvous) }
        }
    }

    /** A chip failed or died: every domain it belongs to breaks, so no peer waits for it until its timeout. */
    private fun breakDomainsOf(chip: Int) {
        for (m in memberships[chip].orEmpty()) commFiles[m.spec.name]?.markBroken("${nextPath(chip)} failed or died")
    }

    private fun startProcesses(): ProcessChildren? {
        if (!sharedMemory) return null
        val plans = ArrayList<ChildPlan>()
        if (subsInProcesses) {
            for (i in 0 until config.subWorkers) plans += ChildPlan("${config.name} sub#$i", i, "sub", config.level, null)
        }
        config.nextLevel.forEachIndexed { i, c ->
            if (!nextInProcess[i]) return@forEachIndexed
            plans += when (c) {
                is NextLevelChild.Chip -> ChildPlan(nextPath(i), i, "chip", 2, null, ChipChildSpec(i, c.config, memberships[i].orEmpty(), config.startTimeout.inWholeMilliseconds))
                else -> ChildPlan(nextPath(i), i, "next", config.level - 1, (c as? NextLevelChild.Config)?.let { WorkerSpec.of(it.config).toJson() })
            }
        }
        return ProcessChildren.start(
            config.name, plans, callables, spinNanos, config.startTimeout, config.childJvmOptions,
            onFailure = { commFiles.values.forEach { it.markBroken("a chip failed to start") } },
        )
    }

    /**
     * Starts the chips that live in this JVM, all at once (their domains meet in a barrier), and waits for
     * every one under the start-up deadline; on any failure stops them all and names each failed chip.
     */
    private fun startLocalChips() {
        val idx = config.nextLevel.indices.filter { config.nextLevel[it] is NextLevelChild.Chip && !nextInProcess[it] }
        if (idx.isEmpty()) return
        val futures = idx.associateWith { i ->
            val c = (config.nextLevel[i] as NextLevelChild.Chip).config
            CompletableFuture<ChipRuntime>().also { f ->
                Thread({
                    try {
                        f.complete(startLocalChip(nextPath(i), i, c, memberships[i].orEmpty(), config.startTimeout))
                    } catch (t: Throwable) {
                        breakDomainsOf(i)
                        f.completeExceptionally(t)
                    }
                }, "strata-${nextPath(i).replace(' ', '-')}-start").apply { isDaemon = true }.start()
            }
        }
        val deadline = System.nanoTime() + config.startTimeout.inWholeNanoseconds
        for (f in futures.values) runCatching { f.get(maxOf(0, deadline - System.nanoTime()), TimeUnit.NANOSECONDS) }
        val failures = futures.mapNotNull { (i, f) ->
            when {
                !f.isDone -> "${nextPath(i)}: did not report ready within ${config.startTimeout}"
                f.isCompletedExceptionally -> "${nextPath(i)}: " + (runCatching { f.get() }.exceptionOrNull()?.let { it.cause ?: it }?.message)
                else -> null
            }
        }
        if (failures.isEmpty()) {
            for ((i, f) in futures) localChips[i] = f.get()
            return
        }
        commFiles.values.forEach { it.markBroken("a chip failed to start") }
        for (f in futures.values) {
            if (!f.isDone) f.whenComplete { rt, _ -> rt?.close() } else if (!f.isCompletedExceptionally) f.get().close()
        }
        throw WorkerStartException(config.name, failures)
    }

    internal val scheduler = Scheduler(config.name, subs, nexts, spinNanos, this, countReady = tracked).also { it.start() }

    /** The stall watchdog over the worker's in-process children (a chip's cores; a host's sub workers and next-level children). */
    private val watchdog: StallWatchdog? = if (!tracked) null else StallWatchdog(
        config.name, config.stallTimeout!!, (subs + nexts).filterIsInstance<ThreadEndpoint>(),
        object : StallWatchdog.Hooks {
            override fun headRun(): Run? = activeRuns.minByOrNull { it.id }
            override fun submitted(): Long = taskIds.get()
            override fun readyCount(): Int = scheduler.readyCount
            override fun declare(run: Run, error: SchedulerStallException, stuck: Pair<ThreadEndpoint, Dispatch>?) =
                declareStall(run, error, stuck)
        },
        if (config.level == 2) "ChipConfig.stallTimeout or STRATA_SCHEDULER_TIMEOUT_MS" else "WorkerConfig.stallTimeout of ${config.name}",
    )

    /** The watchdog's verdict: the run fails now; a stuck core is interrupted, a starved program too. */
    private fun declareStall(run: Run, error: SchedulerStallException, stuck: Pair<ThreadEndpoint, Dispatch>?) {
        log.error { error.message }
        run.fail(error)
        stuck?.let { (ep, d) -> ep.interruptRunning(d) }
        synchronized(run) { if (run.building) run.builder?.interrupt() }
        scheduler.abandon(run)
    }

    fun submit(program: suspend Orchestrator.() -> Unit): RunHandle {
        if (closed.get()) throw WorkerClosedException(config.name)
        check(!buildLock.isHeldByCurrentThread) {
            "a run's program started another run on the same worker (${config.name}); submit tasks instead, " +
                "or run the nested program on a next-level worker"
        }
        (subs.firstOrNull { it.ownsCurrentThread() } ?: nexts.firstOrNull { it.ownsCurrentThread() })?.let { ep ->
            throw IllegalStateException(
                "a task running on ${ep.path} started a run on its own worker (${config.name}); that run would wait " +
                    "behind the run the task belongs to. Submit the work from the program instead, or run it on a " +
                    "next-level worker (ctx.worker)",
            )
        }
        admission.acquire()
        if (closed.get()) {
            admission.release()
            throw WorkerClosedException(config.name)
        }
        return buildLock.withLock {
            val run = Run(runIds.incrementAndGet()) { scheduler.runFailed(it) }
            val handle = RunHandle(run, spinNanos)
            processes?.let { p -> run.helper = p::pollAll } // the waiter reads mailboxes itself
            activeRuns += run
            watchdog?.arm()
            scheduler.admit(run)
            val orchestrator = RunBuilder(this, run)
            run.builder = Thread.currentThread()
            try {
                runBlocking { orchestrator.program() }
            } catch (e: Throwable) {
                // The program itself failed: skip what has not started, let running tasks finish, rethrow.
                endBuilding(run)
                run.fail(e)
                scheduler.runFailed(run)
                orchestrator.closeBuild()
                handle.join()
                val stall = run.firstError.get() as? SchedulerStallException
                if (stall != null && stall !== e) { // the watchdog interrupted a starved program: its verdict is the error
                    stall.addSuppressed(e)
                    throw stall
                }
                throw e
            }
            endBuilding(run)
            orchestrator.closeBuild()
            handle
        }
    }

    /** The program's thread stops being [run]'s builder; an interrupt the watchdog sent it is cleared. */
    private fun endBuilding(run: Run) {
        synchronized(run) { run.builder = null }
        if (run.firstError.get() is SchedulerStallException) Thread.interrupted()
    }

    // --- Engine ---------------------------------------------------------------------------------

    override fun nextTaskId(): Long = taskIds.incrementAndGet()

    /** Free task slots now (tests: every slot comes back once runs are over). */
    val freeSlots: Int get() = slots.available

    override fun tryAcquireSlot(): Boolean = slots.tryAcquire()
    override fun tryAcquireSlots(max: Int): Int = slots.tryAcquireUpTo(max)
    override fun releaseSlots(n: Int) = slots.release(n)

    override suspend fun acquireSlot() {
        if (slots.tryAcquire()) return
        withTimeoutOrNull(config.backPressureTimeout) { slots.acquire() } ?: throw BackPressureTimeoutException(
            "the task ring (${config.taskWindow} slots)", "taskWindow", config.backPressureTimeout,
            "Every slot holds a task that is running, waiting, or finished but still referenced by its scope or " +
                "consumers. Raise WorkerConfig.taskWindow (now ${config.taskWindow}) or wrap loops in scope { } so " +
                "finished tasks are released sooner.",
        )
    }


    override suspend fun allocate(depth: Int, bytes: Long): Pair<HeapRing, HeapRing.Allocation> {
        val ring = heapRings[minOf(depth, Scope.HEAP_RINGS - 1)]
        val size = ring.sizeFor(bytes)
        if (size > ring.capacity) {
            throw BackPressureTimeoutException(
                "heap ring ${ring.index} (scope depth $depth, ${ring.capacity} B)", "heapRingBytes", kotlin.time.Duration.ZERO,
                "An alloc of $bytes B can never fit. Raise WorkerConfig.heapRingBytes (now ${config.heapRingBytes}) " +
                    "or allocate a caller-owned buffer with hostTensor().",
            )
        }
        val a = withTimeoutOrNull(config.backPressureTimeout) { ring.allocate(bytes) } ?: throw BackPressureTimeoutException(
            "heap ring ${ring.index} (scope depth $depth, ${ring.capacity} B)", "heapRingBytes", config.backPressureTimeout,
            "An alloc of $bytes B found ${ring.capacity - ring.used} B free. Raise WorkerConfig.heapRingBytes " +
                "(now ${config.heapRingBytes}) or end the scopes holding allocations sooner.",
        )
        return ring to a
    }

    override fun consume(task: Task) {
        task.state = TaskState.CONSUMED
        task.allocation?.let { a ->
            task.allocBuffer?.isReleased = true
            task.allocRing!!.release(a)
        }
        slots.release()
        if (task.mapEntries != null && task.run.building) task.run.consumed.offer(task)
    }

    override fun publishReady(task: Task) = scheduler.post(task)
    override fun skipPoisoned(task: Task) = scheduler.skipPoisoned(task)
    override fun runArrived(run: Run) = scheduler.runArrived(run)

    override fun admitCallable(callable: TaskCallable, targets: Array<Target>): Int {
        if (!sharedMemory) return -1
        for (t in targets) {
            val process = when (t) {
                Target.Sub -> subsInProcesses
                is Target.Next -> nextInProcess.getOrElse(t.index) { false }
            }
            if (process) return callables.idFor(callable)
        }
        return -1
    }

    /** A zeroed host buffer; in shared memory (unlinked at close) when the worker has child processes. */
    fun hostBuffer(bytes: Long, label: String, access: Access): Buffer {
        if (!sharedMemory) return Buffer.host(bytes, label, access)
        val f = SharedMemoryFile.create(maxOf(bytes, 1), "buffer", gcMapped = true)
        sharedFiles += f
        val buffer = Buffer(bytes, AddressSpace.Host, access, label, f.segment, f.path.toString(), 0)
        // Once no view of the buffer is left (no task can use it any more), its file name goes too.
        CLEANER.register(buffer) {
            sharedFiles.remove(f)
            f.close()
        }
        return buffer
    }

    /** Registers [callable] with every process child now (it would otherwise be sent on first use). */
    fun register(callable: TaskCallable) {
        val id = callables.idFor(callable)
        val name = callables.nameOf(id)
        val eps = processes?.endpoints ?: return
        val failures = eps.mapNotNull { ep ->
            runCatching { ep.control(TaskWire.OP_REGISTER, id, name).get(config.startTimeout.inWholeMilliseconds, TimeUnit.MILLISECONDS) }
                .exceptionOrNull()?.let { "${ep.path}: ${(it as? java.util.concurrent.ExecutionException)?.cause?.message ?: it.toString()}" }
        }
        if (failures.isNotEmpty()) throw InvalidCallableException(name, "registering it failed on ${failures.joinToString("; ")}")
    }

    /** Round trip of a ping to each process child, by path; a child that does not answer within [timeout] maps to null. */
    fun ping(timeout: kotlin.time.Duration): Map<String, kotlin.time.Duration?> =
        (processes?.endpoints ?: emptyList()).associate { ep ->
            val start = System.nanoTime()
            val ok = runCatching { ep.control(TaskWire.OP_PING).get(timeout.inWholeMilliseconds, TimeUnit.MILLISECONDS) }.isSuccess
            ep.path to if (ok) (System.nanoTime() - start).nanoseconds else null
        }

    // --- chips ----------------------------------------------------------------------------------

    private fun chipConfig(chip: Int): ChipConfig {
        val c = config.nextLevel.getOrNull(chip) as? NextLevelChild.Chip ?: throw IllegalArgumentException(
            "${config.name} has no chip $chip; its chips are ${config.chipIndices.ifEmpty { "none" }}",
        )
        return c.config
    }

    /** How long a chip control request (malloc, copy, context) may wait: it queues behind a running task. */
    private fun controlTimeoutMs(chip: Int) = (chipConfig(chip).syncTimeout + config.startTimeout).inWholeMilliseconds

    /** Sends control [op] to process chip [chip]; turns failures into [ChipException]. */
    private fun chipControl(chip: Int, what: String, op: Int, text: String = "", vararg longs: Long): ByteArray {
        val ep = nexts[chip] as ProcessEndpoint
        val f = ep.control(op, 0, text, *longs)
        return try {
            f.get(controlTimeoutMs(chip), TimeUnit.MILLISECONDS)
        } catch (e: java.util.concurrent.ExecutionException) {
            val c = e.cause ?: e
            val m = (c as? RemoteException)?.remoteMessage ?: c.message ?: c.javaClass.name
            throw ChipException(nextPath(chip), what, m.substringAfter(" failed: ", m), c)
        } catch (e: java.util.concurrent.TimeoutException) {
            throw ChipException(nextPath(chip), what, "no answer within ${controlTimeoutMs(chip)} ms (the chip is busy or hung)", e)
        }
    }

    fun chipContext(chip: Int): ChipContext {
        val cfg = chipConfig(chip)
        contexts[chip]?.let { return it }
        val wire = localChips[chip]?.contextWire() ?: Json.decodeFromString(
            ChipContextWire.serializer(), String(chipControl(chip, "context", TaskWire.OP_CHIP_CONTEXT)),
        )
        val ctx = wire.toContext(chip, nextPath(chip), cfg, config.domains.associateBy { it.name })
        contexts[chip] = ctx
        return ctx
    }

    fun deviceTensor(chip: Int, dtype: DType, shape: LongArray, label: String): Tensor {
        chipConfig(chip)
        require(shape.all { it >= 0 }) { "device tensor shape must be >= 0, was ${shape.contentToString()}" }
        val bytes = maxOf(1, shape.fold(dtype.byteSize.toLong()) { acc, n -> acc * n })
        val ptr = localChips[chip]?.malloc(bytes) ?: java.nio.ByteBuffer.wrap(chipControl(chip, "malloc of $bytes B", TaskWire.OP_MALLOC, "", bytes))
            .order(java.nio.ByteOrder.LITTLE_ENDIAN).long
        val buffer = Buffer.device(bytes, AddressSpace.Device(chip), label, ptr)
        deviceBuffers[buffer.id] = buffer
        return buffer.tensor(dtype, *shape)
    }

    fun freeDevice(tensor: Tensor) {
        val b = tensor.buffer
        val chip = (b.addressSpace as? AddressSpace.Device)?.worker
        require(chip != null && deviceBuffers.remove(b.id) != null) {
            "$tensor is not device memory from deviceTensor() of this worker (or it was freed already)"
        }
        b.isReleased = true
        localChips[chip]?.free(b.deviceAddress) ?: chipControl(chip, "free of 0x${b.deviceAddress.toString(16)}", TaskWire.OP_FREE, "", b.deviceAddress)
    }

    fun copy(device: Tensor, host: Tensor, toDevice: Boolean) {
        val db = device.buffer
        val chip = (db.addressSpace as? AddressSpace.Device)?.worker
            ?: throw IllegalArgumentException("$device is not device memory (copies go between a host tensor and a device tensor)")
        chipConfig(chip)
        require(host.buffer.addressSpace == AddressSpace.Host && host.buffer.segment != null) { "$host is not host memory" }
        require(device.isContiguous && host.isContiguous) { "copies need contiguous tensors: $device, $host" }
        val bytes = device.elementCount * device.dtype.byteSize
        require(host.elementCount * host.dtype.byteSize == bytes) {
            "$host has ${host.elementCount * host.dtype.byteSize} B and $device has $bytes B; a copy needs the same size"
        }
        require(!db.isReleased) { "$device was freed" }
        val ptr = db.deviceAddress + device.footprint.lo
        val hostSeg = host.asSegment()
        val local = localChips[chip]
        if (local != null) {
            if (toDevice) local.copyToDevice(ptr, hostSeg) else local.copyFromDevice(hostSeg, ptr)
            return
        }
        val what = if (toDevice) "copy of $bytes B to device" else "copy of $bytes B from device"
        val op = if (toDevice) TaskWire.OP_COPY_TO else TaskWire.OP_COPY_FROM
        val hb = host.buffer
        if (hb.sharedFile != null) { // the chip maps the host buffer's file itself: no staging copy
            chipControl(chip, what, op, hb.sharedFile, ptr, hb.sharedOffset + host.footprint.lo, bytes)
            return
        }
        SharedMemoryFile.create(maxOf(bytes, 1), "staging").use { staging ->
            if (toDevice) MemorySegment.copy(hostSeg, 0, staging.segment, 0, bytes)
            chipControl(chip, what, op, staging.path.toString(), ptr, 0, bytes)
            if (!toDevice) MemorySegment.copy(staging.segment, 0, hostSeg, 0, bytes)
        }
    }

    // --- Scheduler.Hooks ------------------------------------------------------------------------

    override fun runFinished(run: Run) {
        if (!run.markFinished()) return // the scheduler and close() may both get here
        activeRuns -= run
        watchdog?.disarmIfIdle { activeRuns.isEmpty() }
        run.building = false
        run.complete()
        admission.release()
    }

    fun close() {
        if (!closed.compareAndSet(false, true)) return
        val timeoutMs = config.closeTimeout.inWholeMilliseconds
        if (!admission.tryAcquire(RUNS_IN_FLIGHT, timeoutMs, TimeUnit.MILLISECONDS)) {
            log.warn { "${config.name}: runs still in flight after ${config.closeTimeout}; cancelling them" }
            for (r in activeRuns) r.cancel()
            if (!admission.tryAcquire(RUNS_IN_FLIGHT, timeoutMs, TimeUnit.MILLISECONDS)) {
                log.warn { "${config.name}: tasks still running after cancellation; closing anyway" }
            }
        }
        watchdog?.close()
        scheduler.stop(1_000)
        // The stopped scheduler can no longer finish runs whose tasks are still running: end them here (a
        // cancelled run keeps its RunCancelledException) so nobody waits forever on their handles.
        for (r in activeRuns.toList()) {
            r.fail(WorkerClosedException(config.name))
            runFinished(r)
        }
        for (e in subs) if (e !is ProcessEndpoint) e.close(timeoutMs)
        for (e in nexts) if (e !is ProcessEndpoint) e.close(timeoutMs)
        processes?.close(timeoutMs)
        commFiles.values.forEach { it.close() }
        for (r in heapRings) r.unlink()
        for (f in sharedFiles) f.close()
        sharedFiles.clear()
        // Wake anyone blocked in admission: they see the worker closed.
        admission.release(RUNS_IN_FLIGHT * 4)
    }

    private companion object {
        const val RUNS_IN_FLIGHT = 2
        val CLEANER: java.lang.ref.Cleaner = java.lang.ref.Cleaner.create()
    }
}
