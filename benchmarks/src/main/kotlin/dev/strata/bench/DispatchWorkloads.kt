package dev.strata.bench

import java.nio.file.Path
import dev.strata.run.RunHandle
import dev.strata.task.TaskArgs
import dev.strata.task.TaskCallable
import dev.strata.task.Target
import dev.strata.tensor.DType
import dev.strata.tensor.Tensor
import dev.strata.record.TaskGraph
import dev.strata.worker.Worker
import dev.strata.worker.WorkerConfig
import java.util.concurrent.CountDownLatch
import kotlin.time.Duration
import kotlin.time.Duration.Companion.microseconds

/**
 * The dispatch workloads shared by `./strata bench dispatch` ([DispatchBench]) and the JMH suite
 * (`dev.strata.bench.jmh`): one worker with [workers] sub workers and the task arguments of every
 * workload built once, so that a measurement times the engine (submit, dependency inference,
 * scheduling, dispatch, completion), not argument building.
 *
 * Every task is a no-op on a sub worker. Throughput workloads submit [batch] tasks per run (the task
 * window is 16384 slots) and pipeline the runs: the next run builds while the previous one executes,
 * as `Worker.submit` allows. Java callers (JMH) use the plain methods; nothing here suspends.
 *
 * Not thread-safe: one caller at a time.
 */
public class DispatchWorkloads @JvmOverloads constructor(
    public val workers: Int = 4,
    public val batch: Int = DEFAULT_BATCH,
    /** How long idle engine threads spin before parking, in µs; negative keeps `WorkerConfig`'s default. */
    spinMicros: Long = -1,
    /** Where the worker writes a timeline of its runs when it closes (null: not traced, the default). */
    trace: Path? = null,
) : AutoCloseable {
    init {
        require(workers > 0) { "workers must be > 0, was $workers" }
        require(batch in 1..MAX_BATCH) { "batch must be 1..$MAX_BATCH, was $batch" }
    }

    public val worker: Worker = Worker(
        WorkerConfig(subWorkers = workers, name = "bench", trace = trace).let { if (spinMicros < 0) it else it.copy(spin = spinMicros.microseconds) },
    )

    /** The idle spin the worker uses. */
    public val spin: Duration get() = worker.config.spin

    /** One byte each: task `i` of a batch writes `cells[i]` (distinct buffers keep TensorMap lists short). */
    private val cells: Array<Tensor> = Array(batch) { worker.hostTensor(DType.U8, 1, label = "cell$it") }

    /** The single tensor every chain task reads and writes. */
    private val chainArgs: TaskArgs = TaskArgs.build { inout(worker.hostTensor(DType.U8, 1, label = "chain")) }

    /** Task `i` writes its own cell: no dependencies between tasks. */
    private val independentArgs: Array<TaskArgs> = Array(batch) { i -> TaskArgs.build { output(cells[i]) } }

    /** One buffer of [batch] bytes: task `i` of the slices workload writes byte `i` (a 1-byte slice). */
    private val tiles: Tensor = worker.hostTensor(DType.U8, batch.toLong(), label = "tiles")

    /** Task `i` writes its own 1-byte slice of [tiles]: independent, but all views of one buffer. */
    private val sliceArgs: Array<TaskArgs> = Array(batch) { i -> TaskArgs.build { output(tiles.slice(0, i.toLong(), i + 1L)) } }

    /** Task `i` reads the cells of tasks `i-1` and `i-2` and writes its own. */
    private val deps2Args: Array<TaskArgs> = Array(batch) { i ->
        TaskArgs.build {
            if (i >= 1) input(cells[i - 1])
            if (i >= 2) input(cells[i - 2])
            output(cells[i])
        }
    }

    /** One buffer of [batch] bytes a graph replay binds as its parameter `cells`. */
    private val replayCells: Tensor = worker.hostTensor(DType.U8, batch.toLong(), label = "replay-cells")

    /** The deps2 DAG (task `i` reads bytes `i-1`, `i-2` and writes byte `i` of parameter `cells`), recorded once per size. */
    private val deps2Graphs = HashMap<Int, TaskGraph>()

    private fun deps2Graph(n: Int): TaskGraph = deps2Graphs.getOrPut(n) {
        TaskGraph.record("deps2") {
            val cells = parameter("cells", DType.U8, batch.toLong())
            for (i in 0 until n) {
                val args = TaskArgs.build {
                    if (i >= 1) input(cells.slice(0, i - 1L, i.toLong()))
                    if (i >= 2) input(cells.slice(0, i - 2L, i - 1L))
                    output(cells.slice(0, i.toLong(), i + 1L))
                }
                submit(Target.Sub, NOOP, args, "deps2")
            }
        }
    }

    /**
     * [tasks] no-op tasks of the deps2 shape, replayed from a recorded [TaskGraph] with its parameter bound
     * anew each run: no dependency inference, no per-task validation.
     */
    public fun graphReplay(tasks: Int): Int = batches(tasks) { n -> worker.submit(deps2Graph(n), mapOf("cells" to replayCells)) }

    /** `worker.run {}` of one no-op sub task without arguments: the one-task run latency. */
    public fun runOneTask() {
        worker.run { submit(Target.Sub, NOOP, TaskArgs.EMPTY, "noop") }
    }

    /** [tasks] independent no-op tasks without arguments. Returns the tasks run. */
    public fun independentNoArgs(tasks: Int): Int = batches(tasks) { n ->
        worker.submit { for (i in 0 until n) submit(Target.Sub, NOOP, TaskArgs.EMPTY, "noop") }
    }

    /** [tasks] independent no-op tasks, each writing its own one-byte tensor. Returns the tasks run. */
    public fun independent(tasks: Int): Int = batches(tasks) { n ->
        worker.submit { for (i in 0 until n) submit(Target.Sub, NOOP, independentArgs[i], "indep") }
    }

    /**
     * [tasks] independent no-op tasks, task `i` of a run writing its own 1-byte slice of one shared buffer
     * (the tiling pattern): measures how dependency inference scales with many views of one buffer.
     */
    public fun independentSlices(tasks: Int): Int = batches(tasks) { n ->
        worker.submit { for (i in 0 until n) submit(Target.Sub, NOOP, sliceArgs[i], "slice") }
    }

    /** [tasks] no-op tasks, each INOUT on the same tensor: every task depends on the one before. */
    public fun chain(tasks: Int): Int = batches(tasks) { n ->
        worker.submit { for (i in 0 until n) submit(Target.Sub, NOOP, chainArgs, "chain") }
    }

    /** [tasks] no-op tasks, each reading the outputs of the two before it and writing its own. */
    public fun deps2(tasks: Int): Int = batches(tasks) { n ->
        worker.submit { for (i in 0 until n) submit(Target.Sub, NOOP, deps2Args[i], "deps2") }
    }

    /** The workloads [split] can time: their per-task arguments by index. */
    public enum class Kind { INDEPENDENT_NOARGS, INDEPENDENT, INDEPENDENT_SLICES, CHAIN, DEPS2 }

    private fun argsOf(kind: Kind, i: Int): TaskArgs = when (kind) {
        Kind.INDEPENDENT_NOARGS -> TaskArgs.EMPTY
        Kind.INDEPENDENT -> independentArgs[i]
        Kind.INDEPENDENT_SLICES -> sliceArgs[i]
        Kind.CHAIN -> chainArgs
        Kind.DEPS2 -> deps2Args[i]
    }

    /**
     * Times building and executing one run of [tasks] tasks of [kind] separately: the run starts with one
     * blocking task per sub worker, so every workload task waits while the program submits them (the
     * build time: orchestrator cost per submit on an otherwise idle worker); then the gate opens and the
     * time until the run finished is the execution time (scheduler, dispatch and completion only).
     * Returns `[buildNanos, execNanos]`.
     */
    public fun split(kind: Kind, tasks: Int): LongArray {
        require(tasks in 1..batch - workers) { "tasks must be 1..${batch - workers}, was $tasks" }
        val gate = CountDownLatch(1)
        val gateTask = TaskCallable { gate.await() }
        val t0 = System.nanoTime()
        val h = worker.submit {
            for (g in 0 until workers) submit(Target.Sub, gateTask, TaskArgs.EMPTY, "gate")
            for (i in 0 until tasks) submit(Target.Sub, NOOP, argsOf(kind, i), "split")
        }
        val t1 = System.nanoTime()
        gate.countDown()
        h.result()
        val t2 = System.nanoTime()
        return longArrayOf(t1 - t0, t2 - t1)
    }

    /** Submits ceil(tasks / batch) runs, keeping up to two in flight, and waits for all of them. */
    private inline fun batches(tasks: Int, submitRun: (Int) -> RunHandle): Int {
        var left = tasks
        var previous: RunHandle? = null
        while (left > 0) {
            val n = minOf(left, batch)
            val h = submitRun(n) // blocks while two runs are admitted
            previous?.result()
            previous = h
            left -= n
        }
        previous?.result()
        return tasks
    }

    override fun close() {
        worker.close()
    }

    public companion object {
        /** Tasks per run in the throughput workloads. */
        public const val DEFAULT_BATCH: Int = 10_000

        /**
         * Largest batch: one run's tasks stay in its outer scope until its program returns, so a batch
         * must fit the default task window (16384 slots). The run building behind it may wait for slots
         * (back-pressure), which only delays it.
         */
        public const val MAX_BATCH: Int = 16_384

        /** The task every workload runs: does nothing. */
        @JvmField
        public val NOOP: TaskCallable = TaskCallable { }
    }
}
