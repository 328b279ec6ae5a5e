package dev.strata.run

import dev.strata.graph.Run
import dev.strata.task.Gate
import dev.strata.task.TaskArgs
import dev.strata.tensor.Buffer
import dev.strata.task.TaskCallable
import dev.strata.task.Target

/**
 * A recorded program's tasks as the engine replays them: parallel arrays read in order, so building a
 * task touches a few sequential arrays instead of chasing each node's objects through the heap.
 * Node i runs `callables[callableIndex[i]]` on `targets[i]` after the nodes
 * `producers[producerStart[i] until producerStart[i + 1]]`.
 */
internal class ReplayPlan(
    val names: Array<String>,
    val callables: Array<TaskCallable>,
    val targets: Array<Array<Target>>,
    val callableIndex: IntArray,
    val producerStart: IntArray,
    val producers: IntArray,
    /** Bytes of each scratch allocation the replay makes afresh (from the heap ring, like `alloc`). */
    val scratchBytes: LongArray = LongArray(0),
    /** By node: the scratch allocations (indices in [scratchBytes]) it uses, or null. */
    val scratchUse: Array<IntArray?> = arrayOfNulls(names.size),
    /** The gates the replay makes afresh. */
    val gateNames: Array<String> = emptyArray(),
    /** By node: the gates (indices in [gateNames]) it waits for, or null. */
    val gateDeps: Array<IntArray?> = arrayOfNulls(names.size),
) {
    val size: Int get() = names.size

    /** By node: the last node that follows it (the highest index among its consumers), or -1 when none does. */
    val lastConsumer: IntArray by lazy {
        val last = IntArray(size) { -1 }
        for (i in 0 until size) for (k in producerStart[i] until producerStart[i + 1]) last[producers[k]] = i
        last
    }
}

/**
 * What [RunBuilder.replay] (the engine's one replay entry) reads: the plan, the worker's id of each
 * distinct callable, and each node's arguments with the replay's bindings applied. Recorded graphs
 * (package `record`) provide it; the engine never names them.
 */
internal interface ReplaySource {
    val plan: ReplayPlan

    /** By callable index: the worker's id for the callable (-1 when no child process runs it). */
    val callableIds: IntArray

    /** Node [i]'s arguments, one per member, with every parameter bound. */
    fun members(i: Int): Array<TaskArgs>

    /** Scratch allocation [k] of this replay is [buffer] (called before any [members]). */
    fun bindScratch(k: Int, buffer: Buffer)

    /** This replay, [run], made [gates] (by index in [ReplayPlan.gateNames]) before building its tasks. */
    fun gatesMade(run: Run, gates: Array<out Gate>)
}
