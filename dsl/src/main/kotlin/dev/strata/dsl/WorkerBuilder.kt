package dev.strata.dsl

import dev.strata.chip.ChipConfig
import dev.strata.chip.CommBufferSpec
import dev.strata.chip.CommDomainSpec
import dev.strata.task.CoreGroup
import dev.strata.task.StrataDsl
import dev.strata.tensor.DType
import dev.strata.task.TaskCallable
import dev.strata.worker.Isolation
import dev.strata.worker.NextLevelChild
import dev.strata.worker.StartProgress
import dev.strata.worker.Worker
import dev.strata.worker.WorkerConfig
import java.nio.file.Path
import kotlin.time.Duration

/**
 * Creates and starts a worker at [level], configured by [configure]. Close it when done (it is
 * [AutoCloseable]; `use { }` does that).
 *
 * ```
 * worker(level = 3) { subWorkers(4) }.use { w ->
 *     val a = w.hostTensor(DType.F32, 1024)
 *     val b = w.hostTensor(DType.F32, 1024)
 *     w.run {
 *         submit(sub, "fill", { output(a) }) { a.fill(1f) }
 *         submit(sub, "copy", { input(a); output(b) }) { for (i in 0L until 1024) b.setFloat(i, a.getFloat(i)) }
 *     }
 * }
 * ```
 * @throws dev.strata.error.InvalidConfigException listing every configuration problem.
 */
public fun worker(level: Int = 3, configure: WorkerBuilder.() -> Unit = {}): Worker {
    val builder = WorkerBuilder(level)
    try {
        builder.configure()
    } catch (t: Throwable) {
        builder.closeRemoteLinks() // remote nodes added before the failure belong to no worker: let them go
        throw t
    }
    return Worker(builder.build())
}

/** Configuration of a worker; every setting has a default (see [WorkerConfig]). */
@StrataDsl
public class WorkerBuilder internal constructor(private val level: Int) {
    private var subWorkers = 0
    private val next = ArrayList<NextLevelChild>()

    /** Name used in error paths (default `L<level>`). */
    public var name: String? = null

    /** Task slots in flight before `submit` suspends (default 16384). */
    public var taskWindow: Int = WorkerConfig().taskWindow

    /** Bytes of each heap ring serving `alloc` (default 64 MiB). */
    public var heapRingBytes: Long = WorkerConfig().heapRingBytes

    /** How long `submit`/`alloc` wait for room before failing (default 10 s). */
    public var backPressureTimeout: Duration = WorkerConfig().backPressureTimeout

    /** How long idle threads spin before parking (default 50 µs). */
    public var spin: Duration = WorkerConfig().spin

    /** How long `close` waits for runs in flight (default 10 s). */
    public var closeTimeout: Duration = WorkerConfig().closeTimeout

    /** Where sub workers run: threads of this JVM (default) or child JVMs ([Isolation.PROCESS]). */
    public var subIsolation: Isolation = Isolation.THREAD

    /** Where next-level children run: threads of this JVM (default) or child JVMs ([Isolation.PROCESS]). */
    public var nextIsolation: Isolation = Isolation.THREAD

    /** How long start-up waits for every child process to report ready (default 30 s). */
    public var startTimeout: Duration = WorkerConfig().startTimeout

    /** Extra JVM options of child processes, e.g. `-Xmx512m`. */
    public val childJvmOptions: MutableList<String> = ArrayList()

    private val callables = ArrayList<TaskCallable>()
    private val domains = ArrayList<CommDomainSpec>()

    /** Where chips run: child JVMs (default, [Isolation.PROCESS]) or threads of this JVM. */
    public var chipIsolation: Isolation = Isolation.PROCESS

    /**
     * The stall watchdog's no-progress budget (null: none, the default). Chips take theirs from their
     * config. On a host worker it is opt-in and needs every child on threads (validation says so
     * otherwise): a run in which nothing progresses for the budget — one task running that long, or tasks
     * nothing will make ready, such as a gate only a gated task would open — fails with a
     * [dev.strata.error.SchedulerStallException] saying which, instead of waiting forever.
     */
    public var stallTimeout: Duration? = null

    /** Told how many child JVMs are ready while they start (see [WorkerConfig.startProgress]); e.g. to draw a progress bar. */
    public var startProgress: StartProgress? = null

    private var traceFile: Path? = null

    /**
     * Records a timeline of every run and writes it to [file] when the worker closes: a Chrome/Perfetto
     * trace-event JSON file (open it in https://ui.perfetto.dev or `chrome://tracing`, or render it with
     * `./strata trace view`). One track per sub worker, chip and chip core, a span per task.
     */
    public fun trace(file: Path) {
        traceFile = file
    }

    /** [trace] to the file at [path]. */
    public fun trace(path: String): Unit = trace(Path.of(path))

    /**
     * Adds one chip per device in [devices] (a level-3 worker's next-level children, `chip(i)` in order),
     * each configured by [configure]:
     *
     * ```
     * worker {
     *     chipIsolation = Isolation.THREAD                // default: each chip in its own JVM
     *     chips(0..1) { cores("aiv", 2); cores("aic", 1); syncTimeout = 5.seconds }
     * }.use { w ->
     *     check(w.chipCount == 2)
     *     check(w.chipContext(1).cores.sumOf { it.count } == 3)
     * }
     * ```
     */
    public fun chips(devices: Iterable<Int>, configure: ChipBuilder.() -> Unit = {}) {
        for (d in devices) next += NextLevelChild.Chip(ChipBuilder(d).apply(configure).build())
    }

    /**
     * Declares a communication domain among chips [chips] (rank r is `chips[r]`): every member gets a
     * window of at least [windowBytes], with the named buffers of [buffers] carved from its start.
     *
     * ```
     * worker {
     *     chipIsolation = Isolation.THREAD
     *     chips(0..3)
     *     domain("ring", 0..3, windowBytes = 1 shl 16) { buffer("data", DType.I32, 1024) }
     * }.use { w ->
     *     val ring = w.chipContext(2).domain("ring")
     *     check(ring.rank == 2 && ring.ranks == 4)
     *     check(ring.buffer("data").elementCount == 1024L)    // chip 2's device tensor
     * }
     * ```
     */
    public fun domain(name: String, chips: Iterable<Int>, windowBytes: Long, buffers: DomainBuilder.() -> Unit = {}) {
        domains += CommDomainSpec(name, chips.toList(), windowBytes, DomainBuilder().apply(buffers).buffers.toList())
    }

    /** Adds [count] host sub workers to the pool (one thread, or with [isolation] PROCESS one child JVM, each). */
    public fun subWorkers(count: Int, isolation: Isolation = subIsolation) {
        subWorkers = count
        subIsolation = isolation
    }

    /**
     * Callables that child processes load at start-up (others are sent on first use): `object`s,
     * classes with a no-arg constructor, or `callable(::topLevelFunction)`. A lambda is rejected here.
     */
    public fun callables(vararg callable: TaskCallable) {
        callables += callable
    }

    /**
     * Adds a next-level child that is a whole worker one level down, built by this worker from
     * [configure]: in this JVM, or in its own JVM (driving its own children) when [nextIsolation] is
     * [Isolation.PROCESS].
     *
     * ```
     * worker(level = 4) {
     *     nextLevelWorker { subWorkers(2) }               // node 0: a level-3 worker with 2 sub workers
     *     nextLevelWorker { subWorkers(1) }               // node 1
     * }.use { l4 -> check(l4.nextLevelCount == 2) }
     * ```
     */
    public fun nextLevelWorker(configure: WorkerBuilder.() -> Unit) {
        next += NextLevelChild.Config(WorkerBuilder(level - 1).apply(configure).build())
    }

    /** Adds next-level children that are whole workers one level down, owned by this worker. */
    public fun nextLevel(vararg workers: Worker) {
        workers.forEach { next += NextLevelChild.Nested(it) }
    }

    /**
     * Adds next-level children as they are described ([NextLevelChild]): e.g. a remote node from
     * `strata-cluster` (`ClusterClient.remoteNode`, or `remoteNode("host:port")` in this builder).
     */
    public fun nextLevel(vararg children: NextLevelChild) {
        next += children
    }

    /** Adds [count] plain next-level children (threads that run the callables sent to them). */
    public fun plainNextLevel(count: Int) {
        repeat(count) { next += NextLevelChild.Plain }
    }

    /** Closes the links of the remote nodes added so far (a configuration that failed half way). */
    internal fun closeRemoteLinks() {
        for (c in next) if (c is NextLevelChild.Remote) runCatching { c.link.close() }
    }

    internal fun build(): WorkerConfig = WorkerConfig(
        level = level,
        subWorkers = subWorkers,
        nextLevel = next.toList(),
        taskWindow = taskWindow,
        heapRingBytes = heapRingBytes,
        backPressureTimeout = backPressureTimeout,
        spin = spin,
        closeTimeout = closeTimeout,
        name = name ?: "L$level",
        subIsolation = subIsolation,
        nextIsolation = nextIsolation,
        callables = callables.toList(),
        startTimeout = startTimeout,
        childJvmOptions = childJvmOptions.toList(),
        chipIsolation = chipIsolation,
        domains = domains.toList(),
        stallTimeout = stallTimeout,
        trace = traceFile,
        startProgress = startProgress,
    )
}

/** Configuration of one chip (see [ChipConfig]). */
@StrataDsl
public class ChipBuilder internal constructor(private val deviceId: Int) {
    private val cores = ArrayList<CoreGroup>()

    /** The driver: `sim` (default), `acl` (Ascend through ACL/HCCL: docs/hardware.md) or a [dev.strata.chip.ChipDriverFactory] class name. */
    public var driver: String = ChipConfig.SIM

    /** Device memory of a simulated chip (default 1 GiB). */
    public var deviceMemoryBytes: Long = ChipConfig(0).deviceMemoryBytes

    /** How long one chip task may take before `synchronize` gives up (default 60 s). */
    public var syncTimeout: Duration = ChipConfig(0).syncTimeout

    /** Bound of every communication wait (default 10 s). */
    public var commTimeout: Duration = ChipConfig(0).commTimeout

    /** The level-2 stall watchdog's budget (default: `STRATA_SCHEDULER_TIMEOUT_MS`, else 10 s). */
    public var stallTimeout: Duration? = null

    /** Extra start-up time of a simulated chip (for start-up skew tests). */
    public var simInitDelay: Duration = Duration.ZERO

    /** Adds [count] cores of [type]; without any call a chip has 2 `aiv` cores. */
    public fun cores(type: String, count: Int) {
        cores += CoreGroup(type, count)
    }

    internal fun build(): ChipConfig = ChipConfig(
        deviceId, driver, cores.ifEmpty { ChipConfig(0).cores }.toList(), deviceMemoryBytes, syncTimeout, commTimeout,
        stallTimeout, simInitDelay,
    )
}

/** The named buffers of a communication domain, carved from every window in order. */
@StrataDsl
public class DomainBuilder internal constructor() {
    internal val buffers = ArrayList<CommBufferSpec>()

    /** A buffer of [count] elements of [dtype] named [name]. */
    public fun buffer(name: String, dtype: DType, count: Long) {
        buffers += CommBufferSpec(name, dtype, count)
    }
}
