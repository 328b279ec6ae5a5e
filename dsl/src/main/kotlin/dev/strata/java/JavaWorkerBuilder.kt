package dev.strata.java

import dev.strata.dsl.DomainBuilder
import dev.strata.dsl.WorkerBuilder
import dev.strata.task.TaskCallable
import dev.strata.worker.Isolation
import dev.strata.worker.NextLevelChild
import dev.strata.worker.Worker
import java.nio.file.Path
import java.time.Duration
import java.util.function.Consumer
import kotlin.time.toKotlinDuration

/**
 * The configuration of a worker, from [Strata.worker]: set what differs from the defaults, then [start].
 *
 * ```java
 * try (JavaWorker w = Strata.worker(3)
 *         .subWorkers(4, Isolation.PROCESS)
 *         .chips(0, 2, chip -> chip.cores("aiv", 2))
 *         .chipIsolation(Isolation.THREAD)
 *         .closeTimeout(Duration.ofSeconds(5))
 *         .start()) { … }
 * ```
 *
 * Every setting has the default of [dev.strata.worker.WorkerConfig], and the settings mean what they mean
 * there and in the Kotlin `worker(level) { … }` builder, which this one fills. Nothing is checked until
 * [start], which reports every problem at once. Each method returns this builder; not thread-safe.
 */
public class JavaWorkerBuilder internal constructor(private val builder: WorkerBuilder) {
    /** The name used in error paths (default `L<level>`). */
    public fun name(name: String): JavaWorkerBuilder = apply { builder.name = name }

    /** Adds [count] host sub workers, one thread each (or one child JVM each, see [subIsolation]). */
    public fun subWorkers(count: Int): JavaWorkerBuilder = apply { builder.subWorkers(count) }

    /** Adds [count] host sub workers with [isolation]: threads of this JVM, or child JVMs. */
    public fun subWorkers(count: Int, isolation: Isolation): JavaWorkerBuilder = apply { builder.subWorkers(count, isolation) }

    /**
     * Where sub workers run: threads of this JVM (default) or child JVMs ([Isolation.PROCESS]). Tasks sent
     * to child JVMs need callables loadable by name there and tensors from [JavaWorker.hostTensor] or `alloc`.
     */
    public fun subIsolation(isolation: Isolation): JavaWorkerBuilder = apply { builder.subIsolation = isolation }

    /** Where next-level children that are whole workers run: threads of this JVM (default) or child JVMs. */
    public fun nextIsolation(isolation: Isolation): JavaWorkerBuilder = apply { builder.nextIsolation = isolation }

    /** Where chips run: child JVMs (default, [Isolation.PROCESS]) or threads of this JVM. */
    public fun chipIsolation(isolation: Isolation): JavaWorkerBuilder = apply { builder.chipIsolation = isolation }

    /**
     * Adds one chip per device from [fromDevice] (inclusive) to [toDevice] (exclusive), each configured by
     * [configure]; they are the worker's next-level children `chip(i)` in order. Level-3 workers only.
     */
    public fun chips(fromDevice: Int, toDevice: Int, configure: Consumer<JavaChipBuilder>): JavaWorkerBuilder =
        chips(fromDevice until toDevice, configure)

    /** [chips] with the default chip configuration (2 `aiv` cores, simulated). */
    public fun chips(fromDevice: Int, toDevice: Int): JavaWorkerBuilder = chips(fromDevice until toDevice) { }

    /** Adds one chip per device in [devices], in order, each configured by [configure]. */
    public fun chips(devices: Iterable<Int>, configure: Consumer<JavaChipBuilder>): JavaWorkerBuilder = apply {
        builder.chips(devices) { configure.accept(JavaChipBuilder(this)) }
    }

    /**
     * Declares a communication domain [name] among chips [chips] (rank r is `chips.get(r)`): every member
     * gets a window of at least [windowBytes] bytes, with the named buffers [buffers] declares
     * (`d -> d.buffer("x", DType.F32, 1024)`) carved from its start.
     */
    public fun domain(name: String, chips: List<Int>, windowBytes: Long, buffers: Consumer<DomainBuilder>): JavaWorkerBuilder = apply {
        builder.domain(name, chips, windowBytes) { buffers.accept(this) }
    }

    /** [domain] without named buffers. */
    public fun domain(name: String, chips: List<Int>, windowBytes: Long): JavaWorkerBuilder = apply {
        builder.domain(name, chips, windowBytes)
    }

    /**
     * Adds a next-level child that is a whole worker one level down, configured by [configure] and built
     * with this one: in this JVM, or in its own JVM when [nextIsolation] is [Isolation.PROCESS].
     */
    public fun nextLevelWorker(configure: Consumer<JavaWorkerBuilder>): JavaWorkerBuilder = apply {
        builder.nextLevelWorker { configure.accept(JavaWorkerBuilder(this)) }
    }

    /** Adds started workers one level down as next-level children; this worker closes them when it closes. */
    public fun nextLevel(vararg workers: JavaWorker): JavaWorkerBuilder = apply {
        builder.nextLevel(*Array<Worker>(workers.size) { workers[it].worker() })
    }

    /** Adds next-level children as described, e.g. remote nodes from `strata-cluster`'s `ClusterClient.remoteNode("host:port")`. */
    public fun nextLevel(vararg children: NextLevelChild): JavaWorkerBuilder = apply { builder.nextLevel(*children) }

    /** Adds [count] plain next-level children (threads that run the callables sent to them). */
    public fun plainNextLevel(count: Int): JavaWorkerBuilder = apply { builder.plainNextLevel(count) }

    /** Task slots in flight before `submit` blocks (default 16384). */
    public fun taskWindow(slots: Int): JavaWorkerBuilder = apply { builder.taskWindow = slots }

    /** Bytes of each heap ring serving `alloc` (default 64 MiB). */
    public fun heapRingBytes(bytes: Long): JavaWorkerBuilder = apply { builder.heapRingBytes = bytes }

    /** How long `submit` / `alloc` wait for room before failing (default 10 s). */
    public fun backPressureTimeout(timeout: Duration): JavaWorkerBuilder = apply { builder.backPressureTimeout = timeout.toKotlinDuration() }

    /** How long idle threads spin before parking (default 50 µs): higher reacts faster, lower idles cheaper. */
    public fun spin(spin: Duration): JavaWorkerBuilder = apply { builder.spin = spin.toKotlinDuration() }

    /** How long `close` waits for runs in flight, and child JVMs to exit, before cancelling / killing (default 10 s). */
    public fun closeTimeout(timeout: Duration): JavaWorkerBuilder = apply { builder.closeTimeout = timeout.toKotlinDuration() }

    /** How long start-up waits for every child process to report ready (default 30 s). */
    public fun startTimeout(timeout: Duration): JavaWorkerBuilder = apply { builder.startTimeout = timeout.toKotlinDuration() }

    /**
     * The stall watchdog's no-progress budget (default none); chips take theirs from [JavaChipBuilder]. On a
     * host worker it is opt-in and needs every child on threads: a run that cannot progress (a task running
     * longer than the budget, a gate only a gated task would open) then fails with a
     * `SchedulerStallException` instead of waiting forever.
     */
    public fun stallTimeout(timeout: Duration): JavaWorkerBuilder = apply { builder.stallTimeout = timeout.toKotlinDuration() }

    /** Writes a timeline of every run to [file] (trace-event JSON for Perfetto) when the worker closes. */
    public fun trace(file: Path): JavaWorkerBuilder = apply { builder.trace(file) }

    /**
     * Callables that child processes load at start-up (others are sent on first use): public classes
     * with a public no-arg constructor, enum constants `INSTANCE`, or [Strata.callable]; a lambda is
     * rejected at [start].
     */
    public fun callables(vararg callables: TaskCallable): JavaWorkerBuilder = apply { builder.callables(*callables) }

    /** Extra JVM options of child processes, e.g. `-Xmx512m`. */
    public fun childJvmOptions(vararg options: String): JavaWorkerBuilder = apply { builder.childJvmOptions += options }

    /**
     * Creates and starts the worker: every child thread, process and chip is ready when this returns.
     *
     * @throws dev.strata.error.InvalidConfigException listing every configuration problem.
     * @throws dev.strata.error.WorkerStartException naming each child that failed to start (everything
     *   already started is stopped first).
     */
    public fun start(): JavaWorker = JavaWorker(Worker(builder.build()))
}
