package dev.strata.worker

import dev.strata.endpoint.Endpoint
import dev.strata.endpoint.ThreadEndpoint
import dev.strata.graph.HeapRing
import dev.strata.graph.Scope
import dev.strata.graph.Task
import dev.strata.graph.TaskState
import dev.strata.run.BackPressureTimeoutException
import dev.strata.run.Engine
import dev.strata.run.Orchestrator
import dev.strata.run.OrchestratorImpl
import dev.strata.run.Run
import dev.strata.run.RunHandle
import dev.strata.run.SubmitValidation
import dev.strata.run.WorkerClosedException
import dev.strata.schedule.Scheduler
import dev.strata.mailbox.SharedMemoryFile
import dev.strata.process.CallableRegistry
import dev.strata.process.ChildPlan
import dev.strata.process.ProcessChildren
import dev.strata.process.ProcessEndpoint
import dev.strata.process.TaskWire
import dev.strata.process.WorkerSpec
import dev.strata.run.InvalidCallableException
import dev.strata.task.TaskCallable
import dev.strata.task.Target
import dev.strata.tensor.Access
import dev.strata.tensor.AddressSpace
import dev.strata.tensor.Buffer
import dev.strata.tensor.DType
import dev.strata.tensor.Tensor
import io.github.oshai.kotlinlogging.KotlinLogging
import kotlinx.coroutines.runBlocking
import kotlinx.coroutines.sync.Semaphore
import kotlinx.coroutines.withTimeoutOrNull
import kotlin.time.Duration.Companion.nanoseconds
import kotlin.time.Duration.Companion.seconds
import java.util.concurrent.ConcurrentHashMap
import java.util.concurrent.TimeUnit
import java.util.concurrent.atomic.AtomicBoolean
import java.util.concurrent.atomic.AtomicLong
import java.util.concurrent.locks.ReentrantLock
import kotlin.concurrent.withLock

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
 * - a run's first task error fails it ([dev.strata.run.TaskFailedException]); tasks that had not
 *   started are skipped; the next run is unaffected;
 * - idle workers park their threads: no CPU is used between runs beyond a short spin.
 *
 * Thread-safe. Close it (it is [AutoCloseable]) to stop its threads and its nested workers.
 */
public class Worker(config: WorkerConfig) : AutoCloseable {
    /** The validated configuration. */
    public val config: WorkerConfig = config.validate()

    /** The worker's level. */
    public val level: Int get() = config.level

    /** Its path in errors, e.g. `L3`. */
    public val path: String get() = config.name

    internal val core = WorkerCore(this.config)

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
    public fun run(program: suspend Orchestrator.() -> Unit) {
        submit(program).result()
    }

    /** A zeroed host tensor owned by the caller (not by a scope), usable by every run of this worker. */
    public fun hostTensor(dtype: DType, vararg shape: Long, label: String = "host", access: Access = Access.READ_WRITE): Tensor {
        val bytes = shape.fold(dtype.byteSize.toLong()) { acc, n -> acc * n }
        return core.hostBuffer(bytes, label, access).tensor(dtype, *shape)
    }

    /**
     * Registers [callable] with every child process now, so its first task does not pay for loading it
     * (callables are otherwise sent on first use). Throws [dev.strata.run.InvalidCallableException] if it
     * has no stable name (a lambda) or a child cannot load it. No effect without child processes.
     */
    public fun register(callable: TaskCallable): Unit = core.register(callable)

    /**
     * Pings every child process through its mailbox; returns each one's round trip, or null for a child
     * that did not answer within [timeout] (dead, or busy with a long task). Empty without child processes.
     */
    public fun ping(timeout: kotlin.time.Duration = 5.seconds): Map<String, kotlin.time.Duration?> = core.ping(timeout)

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
internal class WorkerCore(private val config: WorkerConfig) : Engine, Scheduler.Hooks {
    val closed = AtomicBoolean(false)
    private val spinNanos = config.spin.inWholeNanoseconds
    private val taskIds = AtomicLong()
    private val runIds = AtomicLong()
    private val admission = java.util.concurrent.Semaphore(RUNS_IN_FLIGHT)
    private val buildLock = ReentrantLock()
    private val slots = Semaphore(config.taskWindow)
    private val activeRuns = ConcurrentHashMap.newKeySet<Run>()

    /** Callables of process children by stable name; those in the config are checked (and fail) here. */
    val callables = CallableRegistry().also { r -> config.callables.forEach { r.idFor(it) } }

    /** With child processes, host memory handed out by the worker is shared memory they can map. */
    val sharedMemory: Boolean = config.hasProcessChildren
    private val subsInProcesses = config.subIsolation == Isolation.PROCESS
    private val nextInProcess = BooleanArray(config.nextLevel.size) { config.nextIsolation == Isolation.PROCESS }
    private val heapRings = Array(Scope.HEAP_RINGS) { HeapRing(it, config.heapRingBytes, sharedMemory) }
    private val sharedFiles = ConcurrentHashMap.newKeySet<SharedMemoryFile>()

    override val validation = SubmitValidation(config.subWorkers, config.nextLevel.size, subsInProcesses, nextInProcess)

    /** The worker's child processes, started (all ready) before anything else; null without any. */
    val processes: ProcessChildren? = if (!sharedMemory) null else {
        val plans = ArrayList<ChildPlan>()
        if (subsInProcesses) {
            for (i in 0 until config.subWorkers) plans += ChildPlan("${config.name} sub#$i", i, "sub", config.level, null)
        }
        if (config.nextIsolation == Isolation.PROCESS) {
            config.nextLevel.forEachIndexed { i, c ->
                val spec = (c as? NextLevelChild.Config)?.let { WorkerSpec.of(it.config) }
                plans += ChildPlan(nextPath(i), i, "next", config.level - 1, spec)
            }
        }
        ProcessChildren.start(config.name, plans, callables, spinNanos, config.startTimeout, config.childJvmOptions)
    }

    private val subs: Array<Endpoint>
    private val nexts: Array<Endpoint>

    /** Path of next-level child [i] in errors: `L4 node#1`. */
    private fun nextPath(i: Int) = "${config.name} ${WorkerConfig.childKind(config.level)}#$i"

    init {
        try {
            var k = 0
            subs = Array(config.subWorkers) { i ->
                if (subsInProcesses) processes!!.endpoints[k++] else ThreadEndpoint("${config.name} sub#$i", i, null, spinNanos)
            }
            val built = ArrayList<Worker>()
            try {
                nexts = Array(config.nextLevel.size) { i ->
                    if (nextInProcess[i]) {
                        processes!!.endpoints[k++]
                    } else {
                        val nested = when (val child = config.nextLevel[i]) {
                            is NextLevelChild.Nested -> child.worker
                            is NextLevelChild.Config -> Worker(child.config).also { built += it }
                            NextLevelChild.Plain -> null
                        }
                        ThreadEndpoint(nextPath(i), i, nested, spinNanos)
                    }
                }
            } catch (t: Throwable) {
                built.forEach { runCatching { it.close() } }
                throw t
            }
        } catch (t: Throwable) {
            processes?.close(config.closeTimeout.inWholeMilliseconds)
            throw t
        }
    }

    internal val scheduler = Scheduler(config.name, subs, nexts, spinNanos, this).also { it.start() }

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
            val run = Run(runIds.incrementAndGet(), spinNanos) { scheduler.runFailed(it) }
            processes?.let { p -> run.handle.helper = p::pollAll } // the waiter reads mailboxes itself
            activeRuns += run
            scheduler.admit(run)
            val orchestrator = OrchestratorImpl(this, run)
            try {
                runBlocking { orchestrator.program() }
            } catch (e: Throwable) {
                // The program itself failed: skip what has not started, let running tasks finish, rethrow.
                run.fail(e)
                scheduler.runFailed(run)
                orchestrator.closeBuild()
                run.handle.join()
                throw e
            }
            orchestrator.closeBuild()
            run.handle
        }
    }

    // --- Engine ---------------------------------------------------------------------------------

    override fun nextTaskId(): Long = taskIds.incrementAndGet()

    override suspend fun acquireSlot() {
        if (slots.tryAcquire()) return
        withTimeoutOrNull(config.backPressureTimeout) { slots.acquire() } ?: throw BackPressureTimeoutException(
            "the task ring (${config.taskWindow} slots)", "taskWindow", config.backPressureTimeout,
            "Every slot holds a task that is running, waiting, or finished but still referenced by its scope or " +
                "consumers. Raise WorkerConfig.taskWindow (now ${config.taskWindow}) or wrap loops in scope { } so " +
                "finished tasks are released sooner.",
        )
    }

    override fun releaseSlot() = slots.release()

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

    // --- Scheduler.Hooks ------------------------------------------------------------------------

    override fun runFinished(run: Run) {
        if (!run.markFinished()) return // the scheduler and close() may both get here
        activeRuns -= run
        run.building = false
        run.handle.complete(if (run.failed) run.firstError.get() else null)
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
