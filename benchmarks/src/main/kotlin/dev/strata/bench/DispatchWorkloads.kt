package dev.strata.bench

import dev.strata.run.RunHandle
import dev.strata.task.TaskArgs
import dev.strata.task.TaskCallable
import dev.strata.task.Target
import dev.strata.tensor.DType
import dev.strata.tensor.Tensor
import dev.strata.worker.Worker
import dev.strata.worker.WorkerConfig

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
) : AutoCloseable {
    init {
        require(workers > 0) { "workers must be > 0, was $workers" }
        require(batch in 1..MAX_BATCH) { "batch must be 1..$MAX_BATCH, was $batch" }
    }

    public val worker: Worker = Worker(WorkerConfig(subWorkers = workers, name = "bench"))

    /** One byte each: task `i` of a batch writes `cells[i]` (distinct buffers keep TensorMap lists short). */
    private val cells: Array<Tensor> = Array(batch) { worker.hostTensor(DType.U8, 1, label = "cell$it") }

    /** The single tensor every chain task reads and writes. */
    private val chainArgs: TaskArgs = TaskArgs.build { inout(worker.hostTensor(DType.U8, 1, label = "chain")) }

    /** Task `i` writes its own cell: no dependencies between tasks. */
    private val independentArgs: Array<TaskArgs> = Array(batch) { i -> TaskArgs.build { output(cells[i]) } }

    /** Task `i` reads the cells of tasks `i-1` and `i-2` and writes its own. */
    private val deps2Args: Array<TaskArgs> = Array(batch) { i ->
        TaskArgs.build {
            if (i >= 1) input(cells[i - 1])
            if (i >= 2) input(cells[i - 2])
            output(cells[i])
        }
    }

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

    /** [tasks] no-op tasks, each INOUT on the same tensor: every task depends on the one before. */
    public fun chain(tasks: Int): Int = batches(tasks) { n ->
        worker.submit { for (i in 0 until n) submit(Target.Sub, NOOP, chainArgs, "chain") }
    }

    /** [tasks] no-op tasks, each reading the outputs of the two before it and writing its own. */
    public fun deps2(tasks: Int): Int = batches(tasks) { n ->
        worker.submit { for (i in 0 until n) submit(Target.Sub, NOOP, deps2Args[i], "deps2") }
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
