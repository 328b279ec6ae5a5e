package dev.strata.worker

import dev.strata.error.WorkerClosedException
import dev.strata.graph.HeapRings
import dev.strata.graph.TaskWindow
import dev.strata.process.CallableRegistry
import dev.strata.record.GraphReplay
import dev.strata.record.TaskGraph
import dev.strata.run.RunHandle
import dev.strata.run.SubmitValidation
import dev.strata.task.ChipView
import dev.strata.task.Orchestrator
import dev.strata.task.Runner
import dev.strata.task.TaskCallable
import dev.strata.tensor.Access
import dev.strata.tensor.DType
import dev.strata.tensor.Tensor
import dev.strata.tensor.bytesOf
import dev.strata.chip.ChipContext
import dev.strata.chip.CommDomainSpec
import dev.strata.error.TraceWriteException
import dev.strata.trace.TraceDefaults
import dev.strata.trace.TraceRecorder
import java.nio.file.Path
import dev.strata.trace.WorkerTrace
import io.github.oshai.kotlinlogging.KotlinLogging
import kotlin.time.Duration
import kotlin.time.Duration.Companion.seconds

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
 * Thread-safe. Close it (it is [AutoCloseable]) to stop its threads and its nested workers; after that,
 * every call but [close] and reading its state throws [dev.strata.error.WorkerClosedException] and creates
 * nothing.
 */
public class Worker internal constructor(
    config: WorkerConfig,
    chipView: ChipView?,
    /** The trace of the worker this one is nested in (a chip's cores, a next-level worker built from a config). */
    parentTrace: TraceRecorder? = null,
    /** How this worker is named in that trace. */
    traceName: String? = null,
) : Runner, AutoCloseable {
    /** Creates and starts a worker from [config] (every child started and ready before this returns). */
    public constructor(config: WorkerConfig) : this(config, null)

    init {
        quietLoggingStartup()
    }

    /** The validated configuration. */
    public val config: WorkerConfig = try {
        config.validate()
    } catch (t: Throwable) {
        config.closeRemoteLinks() // the worker owned them from the start
        throw t
    }

    /** The worker's level. */
    public val level: Int get() = config.level

    /** Its path in errors, e.g. `L3`. */
    public val path: String get() = config.name

    // The worker's parts, assembled in this order (each may use the ones before it); [close] stops them.

    /** The timeline this worker records into: its own when [WorkerConfig.trace] is set, else its parent's, else none. */
    private val traceFile: Path? = if (parentTrace != null) null else this.config.trace ?: TraceDefaults.nextFile()
    private val traceRecorder: TraceRecorder? = parentTrace ?: traceFile?.let { TraceRecorder() }
    private val trace: WorkerTrace? = traceRecorder?.worker(traceName ?: this.config.name)

    /**
     * A worker that failed to start writes no trace: the files its child JVMs wrote (or were given) go. A
     * nested worker leaves that to the worker whose trace it shares, which merges or deletes them at close.
     */
    private fun abandonTrace() {
        if (traceFile != null) traceRecorder?.discardChildFiles()
    }

    /** Callables of process children by stable name; those in the config are checked (and fail) here. */
    private val callables = CallableRegistry().also { r -> this.config.callables.forEach { r.idFor(it) } }

    /** The task window: in-flight task slots, and what a consumed task gives back. */
    internal val window = TaskWindow(this.config.taskWindow, this.config.backPressureTimeout)

    private val heapRings = HeapRings(this.config.heapRingBytes, this.config.hasProcessChildren, this.config.backPressureTimeout)

    /** Host memory handed out by [hostTensor]: shared memory when there are child processes. */
    internal val memory = HostMemory(this.config.hasProcessChildren)

    private val validation = SubmitValidation(
        this.config.subWorkers, this.config.nextLevel.size, this.config.subIsolation == Isolation.PROCESS,
        BooleanArray(this.config.nextLevel.size) { this.config.isProcess(it) },
    )

    /** Sub workers and next-level children, started (all ready) here; closed last. */
    internal val children = try {
        WorkerChildren(this.config, chipView, callables, tracked = this.config.stallTimeout != null, traceRecorder)
    } catch (t: Throwable) {
        abandonTrace()
        throw t
    }

    /** Run admission, the scheduler and the stall watchdog. */
    internal val runs: RunAdmission = try {
        RunAdmission(
            this.config, children, window, heapRings, validation, children,
            tracked = this.config.stallTimeout != null, trace,
        )
    } catch (t: Throwable) {
        children.close(this.config.closeTimeout.inWholeMilliseconds)
        abandonTrace()
        throw t
    }

    /** The chips, and their communication domains: those of the configuration are up before the constructor returns. */
    private val chips = try {
        HostChips(this.config, children).also { it.bringUpConfiguredDomains() }
    } catch (t: Throwable) {
        runs.close()
        children.close(this.config.closeTimeout.inWholeMilliseconds)
        heapRings.unlink()
        memory.close()
        runs.releaseWaiters()
        abandonTrace()
        throw t
    }

    /** True once [close] was called. */
    public val isClosed: Boolean get() = runs.isClosed

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
     * @throws dev.strata.error.WorkerClosedException if the worker is closed.
     */
    public fun submit(program: suspend Orchestrator.() -> Unit): RunHandle = runs.submit(program)

    /** [submit] then wait: returns when every task finished; throws the run's first error. */
    override fun run(program: suspend Orchestrator.() -> Unit) {
        submit(program).result()
    }

    /**
     * Starts a replay of [graph] as a run (issue 5 §2): every tensor parameter bound to the tensor of the
     * same name in [bindings], every scalar parameter to its value in [scalars], scratch (`alloc`) and gates
     * made afresh, and the recorded tasks submitted again without inferring their dependencies.
     * Bindings are checked first, all at once: a missing, unknown, mistyped, misshapen or overlapping
     * binding, or one a target cannot address, throws [dev.strata.error.GraphBindingException] and nothing runs.
     */
    @JvmOverloads
    public fun submit(graph: TaskGraph, bindings: Map<String, Tensor> = emptyMap(), scalars: Map<String, Long> = emptyMap()): RunHandle {
        val replay = GraphReplay.of(graph, bindings, scalars, validation, children)
        return runs.admit { it.replay(replay) }
    }

    /** [submit] of [graph] then wait: returns when every task finished; throws the run's first error. */
    @JvmOverloads
    public fun run(graph: TaskGraph, bindings: Map<String, Tensor> = emptyMap(), scalars: Map<String, Long> = emptyMap()) {
        submit(graph, bindings, scalars).result()
    }

    /** A zeroed host tensor owned by the caller (not by a scope), usable by every run of this worker. */
    public fun hostTensor(dtype: DType, vararg shape: Long, label: String = "host", access: Access = Access.READ_WRITE): Tensor {
        checkOpen()
        val bytes = bytesOf(dtype, shape, "hostTensor '$label'")
        return memory.hostBuffer(bytes, label, access).tensor(dtype, *shape)
    }

    /**
     * Registers [callable] with every child process now, so its first task does not pay for loading it
     * (callables are otherwise sent on first use). Throws [dev.strata.error.InvalidCallableException] if it
     * has no stable name (a lambda) or a child cannot load it. No effect without child processes.
     */
    public fun register(callable: TaskCallable) {
        checkOpen()
        children.register(callable)
    }

    /**
     * Pings every child process through its mailbox; returns each one's round trip, or null for a child
     * that did not answer within [timeout] (dead, or busy with a long task). Empty without child processes.
     */
    public fun ping(timeout: Duration = 5.seconds): Map<String, Duration?> = children.ping(timeout)

    /** Number of chips among the next-level children. */
    public val chipCount: Int get() = config.chipIndices.size

    /**
     * Chip [chip]'s context: device, cores, and its rank, window and named buffers in each communication
     * domain (DESIGN.md §9). Ready as soon as the worker is: every chip brought its domains up first.
     */
    public fun chipContext(chip: Int): ChipContext {
        checkOpen()
        return chips.chipContext(chip)
    }

    /**
     * Allocates device memory on chip [chip] and returns a contiguous tensor over it. Device memory is
     * the chip's own: the host reaches it only through [copyToDevice] / [copyFromDevice], and tasks can use
     * it only on that chip (a submit to any other target is rejected). Freed by [freeDevice] or when the
     * worker closes. Throws [dev.strata.error.ChipException] if the driver's malloc fails.
     */
    public fun deviceTensor(chip: Int, dtype: DType, vararg shape: Long, label: String = "device"): Tensor {
        checkOpen()
        return chips.deviceTensor(chip, dtype, shape, label)
    }

    /** Frees the device memory of [tensor] (a tensor from [deviceTensor]); tasks can no longer use it. */
    public fun freeDevice(tensor: Tensor) {
        checkOpen()
        chips.freeDevice(tensor)
    }

    /**
     * Copies [host] into [device] (both contiguous, the same number of bytes). Call it between runs: a
     * copy is not ordered with the tasks of a run in flight (in a child JVM it waits behind the chip's
     * current task).
     */
    public fun copyToDevice(device: Tensor, host: Tensor) {
        checkOpen()
        chips.copy(device, host, CopyDirection.TO_DEVICE)
    }

    /** Copies [device] into [host] (both contiguous, the same number of bytes); see [copyToDevice]. */
    public fun copyFromDevice(host: Tensor, device: Tensor) {
        checkOpen()
        chips.copy(device, host, CopyDirection.FROM_DEVICE)
    }

    /**
     * Brings up communication domain [spec] on its member chips now, between runs (issue 14 §2), as the
     * worker's configured domains are at start: root info on rank 0, every member joins at once, each
     * window zeroed, all within [timeout] (default: the worker's `startTimeout`). Afterwards
     * [chipContext] shows the domain. Throws [dev.strata.error.InvalidConfigException] for a bad spec or a
     * name already up, [dev.strata.error.CommunicationException] naming each member that failed (nothing of
     * the domain is left up then).
     */
    public fun createDomain(spec: CommDomainSpec, timeout: Duration = config.startTimeout) {
        checkOpen()
        chips.createDomain(spec, timeout)
    }

    /**
     * Releases domain [name] on every member, after every run admitted before this call finished (a run
     * may use the domain); waits at most [timeout] for them, else throws [IllegalStateException] naming
     * the runs and releases nothing. Device tensors of the domain's buffers are invalid afterwards.
     */
    public fun releaseDomain(name: String, timeout: Duration = config.closeTimeout) {
        checkOpen()
        require(name in chips.domains) { "$path has no domain '$name' up; its domains are ${chips.domains.specs.keys.ifEmpty { setOf("none") }}" }
        val unfinished = runs.awaitAdmitted(timeout.inWholeNanoseconds)
        check(unfinished.isEmpty()) {
            "cannot release domain '$name' of $path: ${unfinished.joinToString()} did not finish within $timeout and may use it; wait for them (await or result), then release"
        }
        chips.releaseDomain(name)
    }

    /** Names of the communication domains that are up, in creation order. */
    public val domainNames: Set<String> get() = chips.domains.specs.keys

    /** Process ids of the child JVMs, by path (diagnostics). Empty without child processes. */
    public val childPids: Map<String, Long> get() = children.childPids

    /**
     * Stops the worker: refuses new runs, waits up to `closeTimeout` for runs in flight (then cancels
     * them), stops the scheduler and every child thread, and closes nested workers. Idempotent.
     */
    override fun close() {
        if (!runs.close()) return
        val timeoutMs = config.closeTimeout.inWholeMilliseconds
        children.close(timeoutMs)
        chips.domains.close()
        heapRings.unlink()
        memory.close()
        runs.releaseWaiters()
        writeTrace()
    }

    /**
     * Writes the trace file ([WorkerConfig.trace]) once everything stopped, if this worker owns one (a nested
     * worker records into its parent's). A trace that cannot be written is an error: the user asked for it.
     */
    private fun writeTrace() {
        val path = traceFile ?: return // none, or nested: the outermost worker writes the file
        val recorder = traceRecorder ?: return
        try {
            recorder.write(path)
        } catch (e: Exception) {
            throw TraceWriteException(path, e)
        }
        if (recorder.droppedEvents > 0) {
            log.warn { "$path: the trace kept its first ${TraceRecorder.DEFAULT_MAX_EVENTS} events and dropped ${recorder.droppedEvents}; trace fewer runs" }
        }
    }

    /** Everything but [close] and reading state refuses a closed worker, before it creates anything. */
    private fun checkOpen() {
        if (runs.isClosed) throw WorkerClosedException(path)
    }

    override fun toString(): String = "Worker($path, subs=${config.subWorkers}, next=${config.nextLevel.size})"
}
