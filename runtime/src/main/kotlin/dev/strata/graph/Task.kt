package dev.strata.graph

import dev.strata.task.TaskArgs
import dev.strata.task.TaskCallable
import dev.strata.task.Target
import dev.strata.tensor.Buffer
import java.util.concurrent.atomic.AtomicIntegerFieldUpdater

/**
 * One node of the task DAG: a single task, a group task (several members, one per worker), or the
 * synthetic slot that owns the bytes of an `alloc` (already complete, never dispatched).
 *
 * Ownership: the orchestrator thread builds the task; after publication the scheduler thread owns the
 * dispatch fields. [fanout] and the terminal transition are guarded by the task's monitor so a
 * consumer being attached never misses its producer's completion. [refs] and [fanin] are atomic.
 */
internal class Task(
    /** Sequence number in its worker, for messages. */
    val id: Long,
    val run: Run,
    val name: String,
    /** Null for alloc slots. */
    val callable: TaskCallable?,
    /** Target of each member (one entry for a single task). */
    val targets: Array<Target>,
    /** Arguments of each member (one entry for a single task). */
    val members: Array<TaskArgs>,
) {
    @Volatile
    var state: TaskState = TaskState.BUILDING

    /** Producers not yet finished, plus one guard held while building. */
    @Volatile
    private var faninCount: Int = 1

    /** References: its scope, each consumer, itself. Zero means consumed. */
    @Volatile
    private var refCount: Int = 2

    /** Consumers to notify on completion; null once terminal. Guarded by `this`. */
    var fanout: ArrayList<Task>? = null

    /** Producers this task holds a reference on; released when it is terminal. */
    var producers: ArrayList<Task>? = null

    /** Set when a producer failed or the run failed while this task was still being built. */
    var poisoned: Boolean = false

    /** Marker used by the orchestrator to de-duplicate producers found through several arguments. */
    var lastConsumerId: Long = -1

    /** The TensorMap entries of this task (erased when it is consumed). */
    var mapEntries: ArrayList<TensorMap.Entry>? = null

    /** For alloc slots: the bytes it owns. */
    var allocation: HeapRing.Allocation? = null
    var allocRing: HeapRing? = null
    var allocBuffer: Buffer? = null

    // --- scheduler-thread state -------------------------------------------------------------
    val memberStates: Array<MemberState> = Array(members.size) { MemberState.NOT_DISPATCHED }
    var membersTerminal: Int = 0

    /** The callable's id among the worker's named callables (child processes), or -1. */
    var callableId: Int = -1

    var firstFailure: Throwable? = null

    val isGroup: Boolean get() = members.size > 1
    val isAllocSlot: Boolean get() = callable == null

    fun addFanin() {
        FANIN.incrementAndGet(this)
    }

    /** Returns true when this was the last outstanding producer (or the build guard). */
    fun releaseFanin(): Boolean = FANIN.decrementAndGet(this) == 0

    val fanin: Int get() = faninCount
    val refs: Int get() = refCount

    /** Takes a reference unless the task is already consumed; returns whether it did. */
    fun tryRetain(): Boolean {
        while (true) {
            val c = refCount
            if (c == 0) return false
            if (REFS.compareAndSet(this, c, c + 1)) return true
        }
    }

    /** Drops a reference; returns true when it was the last one (the caller then consumes the task). */
    fun release(): Boolean {
        val left = REFS.decrementAndGet(this)
        check(left >= 0) { "task #$id '$name' released more often than retained" }
        return left == 0
    }

    /** Initial references for an alloc slot: only its scope's. */
    fun initAllocRefs() {
        refCount = 1
        faninCount = 0
    }

    override fun toString(): String = "task #$id '$name'"

    private companion object {
        val FANIN: AtomicIntegerFieldUpdater<Task> = AtomicIntegerFieldUpdater.newUpdater(Task::class.java, "faninCount")
        val REFS: AtomicIntegerFieldUpdater<Task> = AtomicIntegerFieldUpdater.newUpdater(Task::class.java, "refCount")
    }
}
