package dev.strata.java

import dev.strata.chip.ChipContext
import dev.strata.record.TaskGraph
import dev.strata.task.TaskCallable
import dev.strata.tensor.DType
import dev.strata.tensor.Tensor
import dev.strata.worker.Worker
import java.util.function.Consumer
import kotlin.time.Duration.Companion.nanoseconds

/**
 * A started [Worker] for Java code, from [Strata.worker]`(level)…start()`. Close it when done — it is
 * [AutoCloseable], so try-with-resources does it:
 *
 * ```java
 * try (JavaWorker w = Strata.worker(3).subWorkers(2).start()) {
 *     Tensor a = w.hostTensor(DType.F32, 1024);
 *     RunFuture done = w.submit(p -> p.submit(p.sub(), "fill", Args.of().output(a), ctx -> ctx.tensor(0).fill(1f)));
 *     done.join();
 * }
 * ```
 *
 * Guarantees are the [Worker]'s: tasks of a run leave memory as if run one by one in submission order;
 * a run's first task error fails the run and tasks not yet started are skipped; at most two runs are
 * admitted at once (a third `submit` blocks until the first finished); a failed run never affects the
 * next one. Thread-safe; everything the facade does not wrap is on [worker].
 */
public class JavaWorker internal constructor(private val worker: Worker) : AutoCloseable {
    /** The Kotlin [Worker] behind this facade (pings, callable registration, child pids, …). */
    public fun worker(): Worker = worker

    /** The worker's level (2 chip, 3 node, 4 pod, …). */
    public val level: Int get() = worker.level

    /** Its path in errors, e.g. `L3`. */
    public val path: String get() = worker.path

    /** True once [close] was called. */
    public val isClosed: Boolean get() = worker.isClosed

    /** Number of host sub workers. */
    public val subWorkerCount: Int get() = worker.subWorkerCount

    /** Number of chips among the next-level children. */
    public val chipCount: Int get() = worker.chipCount

    // --- runs -----------------------------------------------------------------------------------

    /**
     * Starts a run: calls [program] on the calling thread to build the task DAG (blocking only under
     * back-pressure, or while two runs are already admitted) and returns once it returned, with tasks
     * possibly still running. The future completes when every task finished: normally, or exceptionally
     * with the run's first error — a [dev.strata.error.TaskFailedException] naming the task, the worker and
     * the task's exception (`join()` throws it as the cause of a `CompletionException`); its
     * [RunFuture.stats] count the run's tasks by final state.
     *
     * Stages chained on the future without an executor run on a Strata completion thread, never on a
     * worker's own threads, or on the caller's thread when the run had already finished. Cancelling the
     * future cancels the run: tasks not yet dispatched are skipped, running ones finish.
     *
     * @throws RuntimeException what [program] threw, after the tasks already running finished (an
     *   invalid submit, a back-pressure timeout, the error of a task that failed while building).
     * @throws dev.strata.error.WorkerClosedException if the worker is closed.
     */
    public fun submit(program: Consumer<JavaProgram>): RunFuture = RunFutures.submit(worker, program)

    /** [submit] then wait: returns when every task finished; throws the run's first error. */
    public fun run(program: Consumer<JavaProgram>): Unit = RunFutures.run(worker, program)

    /**
     * Starts a replay of [graph] (recorded with [Strata.taskGraph] or `taskGraph { }`) with each tensor
     * parameter bound to the tensor of the same name in [bindings] and each scalar parameter to its value in
     * [scalars]; the future follows the run as for [submit].
     *
     * @throws dev.strata.error.GraphBindingException listing every missing, unknown, mistyped, misshapen or
     *   overlapping binding; nothing runs then.
     */
    @JvmOverloads
    public fun submit(graph: TaskGraph, bindings: Map<String, Tensor> = emptyMap(), scalars: Map<String, Long> = emptyMap()): RunFuture =
        RunFutures.future(worker.submit(graph, bindings, scalars))

    /** [submit] of [graph] then wait: returns when every task finished; throws the run's first error. */
    @JvmOverloads
    public fun run(graph: TaskGraph, bindings: Map<String, Tensor> = emptyMap(), scalars: Map<String, Long> = emptyMap()): Unit =
        worker.run(graph, bindings, scalars)

    // --- memory ---------------------------------------------------------------------------------

    /**
     * A zeroed host tensor of [dtype] and [shape] owned by the caller (not by a scope), usable by every run
     * of this worker; in shared memory when the worker has child processes.
     */
    public fun hostTensor(dtype: DType, vararg shape: Long): Tensor = worker.hostTensor(dtype, *shape)

    /** [hostTensor] with a [label] that errors and graph exports show. */
    public fun hostTensor(label: String, dtype: DType, vararg shape: Long): Tensor = worker.hostTensor(dtype, *shape, label = label)

    /**
     * Device memory on chip [chip] as a contiguous tensor: reached from the host only through
     * [copyToDevice] / [copyFromDevice], usable only by tasks on that chip. Freed by [freeDevice] or when
     * the worker closes. Throws [dev.strata.error.ChipException] naming the chip if the driver's malloc fails.
     */
    public fun deviceTensor(chip: Int, dtype: DType, vararg shape: Long): Tensor = worker.deviceTensor(chip, dtype, *shape)

    /** Frees the device memory of [tensor] (from [deviceTensor]); tasks can no longer use it. */
    public fun freeDevice(tensor: Tensor): Unit = worker.freeDevice(tensor)

    /** Copies [host] into [device] (both contiguous, the same byte size). Call it between runs. */
    public fun copyToDevice(device: Tensor, host: Tensor): Unit = worker.copyToDevice(device, host)

    /** Copies [device] into [host] (both contiguous, the same byte size). Call it between runs. */
    public fun copyFromDevice(host: Tensor, device: Tensor): Unit = worker.copyFromDevice(host, device)

    /** Chip [chip]'s context: device, cores, and its rank, window and buffers in each communication domain. */
    public fun chipContext(chip: Int): ChipContext = worker.chipContext(chip)

    /**
     * Loads [callable] in every child process now, so its first task does not pay for it. Throws
     * [dev.strata.error.InvalidCallableException] if it has no stable name (a lambda) or a child cannot load it.
     */
    public fun register(callable: TaskCallable): Unit = worker.register(callable)

    /**
     * Stops the worker: refuses new runs, waits up to its `closeTimeout` for runs in flight (then cancels
     * them), stops its threads and child processes and removes its shared memory. Idempotent.
     */
    /**
     * Pings every child process through its mailbox: each one's round trip by path, or null for a child
     * that did not answer within [timeout] (dead, or busy with a long task). Empty without child processes.
     */
    public fun ping(timeout: java.time.Duration): Map<String, java.time.Duration?> =
        worker.ping(timeout.toNanos().nanoseconds).mapValues { (_, rtt) -> rtt?.let { java.time.Duration.ofNanos(it.inWholeNanoseconds) } }

    override fun close(): Unit = worker.close()

    override fun toString(): String = "JavaWorker($worker)"
}
