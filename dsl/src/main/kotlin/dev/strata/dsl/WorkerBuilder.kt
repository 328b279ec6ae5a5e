package dev.strata.dsl

import dev.strata.task.StrataDsl
import dev.strata.worker.NextLevelChild
import dev.strata.worker.Worker
import dev.strata.worker.WorkerConfig
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
 * @throws dev.strata.run.InvalidConfigException listing every configuration problem.
 */
public fun worker(level: Int = 3, configure: WorkerBuilder.() -> Unit = {}): Worker =
    Worker(WorkerBuilder(level).apply(configure).build())

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

    /** Adds [count] host sub workers to the pool (one thread each). */
    public fun subWorkers(count: Int) {
        subWorkers = count
    }

    /** Adds next-level children that are whole workers one level down, owned by this worker. */
    public fun nextLevel(vararg workers: Worker) {
        workers.forEach { next += NextLevelChild.Nested(it) }
    }

    /** Adds [count] plain next-level children (threads that run the callables sent to them). */
    public fun plainNextLevel(count: Int) {
        repeat(count) { next += NextLevelChild.Plain }
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
    )
}
