package dev.strata.testkit

import dev.strata.error.RunTimeoutException
import dev.strata.task.Gate
import dev.strata.task.Orchestrator
import dev.strata.task.TaskArgs
import dev.strata.task.TaskCallable
import dev.strata.task.Target
import dev.strata.tensor.DType
import dev.strata.tensor.Tensor
import dev.strata.worker.Worker
import dev.strata.worker.WorkerConfig
import kotlinx.coroutines.runBlocking
import java.lang.foreign.ValueLayout
import kotlin.time.Duration
import kotlin.time.Duration.Companion.minutes

/**
 * The serializability property (DESIGN.md §11), for your own programs: [program] run on [worker] leaves
 * exactly the bytes that running its tasks one at a time, in submission order, leaves.
 *
 * The tensors are made from [tensors] (the same initial bytes for both runs) as host tensors of [worker]
 * and of a reference worker; [program] gets them in that order. On the reference every `submit` and
 * `submitGroup` is a run of its own, started after the one before ended; `alloc` gives zeroed host memory and
 * `scope` just runs its block. The program may submit to sub workers only (`sub`; a group's members to
 * distinct ones, at most [referenceSubWorkers]), and may not use gates (a sequential run cannot wait for
 * one). The worker's run is bounded by [timeout] (then cancelled, and the assertion fails). Fails with an [AssertionError] naming the first tensor and element that differ, both values, and
 * [describe] (e.g. the program's listing).
 */
public fun assertSerializable(
    worker: Worker,
    tensors: List<TensorSpec>,
    describe: String = "",
    referenceSubWorkers: Int = 4,
    timeout: Duration = 5.minutes,
    program: suspend Orchestrator.(List<Tensor>) -> Unit,
) {
    // The reference first: a program it refuses (a gate, another target) is refused before the worker runs it.
    val expected = Worker(WorkerConfig(level = 3, subWorkers = referenceSubWorkers)).use { ref ->
        val onRef = tensors.mapIndexed { i, s -> s.allocate(ref, "t$i") }
        runBlocking { SequentialOrchestrator(ref).program(onRef) }
        onRef.map { it.bytes() }
    }
    val onWorker = tensors.mapIndexed { i, s -> s.allocate(worker, "t$i") }
    val run = worker.submit { program(onWorker) }
    try {
        run.result(timeout)
    } catch (e: RunTimeoutException) {
        run.cancel()
        run.join(timeout)
        throw AssertionError("the program did not finish on the worker within $timeout; it was cancelled", e)
    }
    for ((i, t) in onWorker.withIndex()) {
        val got = t.bytes()
        val want = expected[i]
        val at = got.indices.firstOrNull { got[it] != want[it] } ?: continue
        val es = tensors[i].dtype.byteSize
        val element = at / es
        fun value(b: ByteArray) = b.copyOfRange(element * es, element * es + es).joinToString(" ") { "%02x".format(it) }
        throw AssertionError(
            "not serializable: tensor $i (${tensors[i]}) element $element is [${value(got)}] on the worker but [${value(want)}] when the " +
                "tasks run one by one in submission order. A task read or wrote it out of order: check the tags of the tasks that touch it " +
                "(a write tagged INPUT or NO_DEP, a read tagged OUTPUT)." + (if (describe.isNotEmpty()) "\n$describe" else ""),
        )
    }
}

/** [assertSerializable] for a [RandomProgram] (from [StrataArb.program]): its tasks submitted to sub workers. */
public fun Worker.shouldRunLikeSequential(program: RandomProgram) {
    assertSerializable(this, program.tensors, describe = program.toString()) { bound -> program.submitTo(this, bound) }
}

/** The bytes of a contiguous host tensor. */
private fun Tensor.bytes(): ByteArray = asSegment().toArray(ValueLayout.JAVA_BYTE)

/** The reference: every submit a run of its own on [worker], one after the other. */
private class SequentialOrchestrator(private val worker: Worker) : Orchestrator {
    override val runId: Long get() = -1

    override suspend fun submit(target: Target, callable: TaskCallable, args: TaskArgs, name: String?) {
        requireSub(target)
        worker.run { submit(Target.Sub, callable, args, name) }
    }

    override suspend fun submitGroup(targets: List<Target>, callable: TaskCallable, members: List<TaskArgs>, name: String?) {
        targets.forEach(::requireSub)
        worker.run { submitGroup(targets.map { Target.Sub }, callable, members, name) }
    }

    override suspend fun alloc(dtype: DType, vararg shape: Long): Tensor = worker.hostTensor(dtype, *shape, label = "alloc")

    override suspend fun <T> scope(block: suspend Orchestrator.() -> T): T = block()

    override suspend fun gate(name: String): Gate = noGates(name)

    override suspend fun <T> after(gate: Gate, block: suspend Orchestrator.() -> T): T = noGates(gate.name)

    private fun noGates(name: String): Nothing =
        throw UnsupportedOperationException("assertSerializable: the program uses gate '$name'; a sequential run cannot wait for a gate, so programs with gates cannot be checked this way")

    private fun requireSub(target: Target) = require(target == Target.Sub) {
        "assertSerializable checks programs on sub workers (sub); this one submits to $target"
    }
}
