package dev.strata.graph

import dev.strata.task.TaskArgs
import dev.strata.task.TaskCallable
import dev.strata.task.Target
import dev.strata.tensor.Buffer
import dev.strata.trace.TaskTimes
import java.util.concurrent.atomic.AtomicIntegerFieldUpdater
import java.util.concurrent.atomic.AtomicReferenceFieldUpdater

/**
 * One node of the task DAG: a single task, a group task (several members, one per worker), or the
 * synthetic slot that owns the bytes of an `alloc` (already complete, never dispatched).
 *
 * Its lifecycle ([TaskState]) is written only by the transition methods below, each documented with its
 * discipline once:
 *
 * - **building** (the program's thread, nothing published yet): [attach] a consumer,
 *   then [publish] ends the build;
 * - **dispatch** (the thread holding the scheduler's token): READY and RUNNING are plain writes of
 *   [state] there, since only the holder moves a published task forward (the token orders holders);
 *   [claim] is the one exception: an endpoint's thread takes a ready successor for itself (the successor
 *   hand-off);
 * - **terminal** ([complete], [fail], [skip], [openGate]): the state under the task's monitor, then the
 *   consumer list taken with an atomic swap to an end marker, which is what makes the lock-free [attach]
 *   safe: a consumer either lands in [fanout] before the swap (and is released by whoever made it) or
 *   sees the marker (and does not wait, or is poisoned);
 * - **references** ([tryRetain], [release]) and **fan-in** ([addFanin], [releaseFanin]) are atomic counts,
 *   safe from any thread; the caller that takes either to zero acts on it (consumes or queues the task).
 *
 * Ownership of the other fields: the program's thread builds the task; after publication the scheduler's
 * token holder owns the dispatch fields ([memberStates], [membersTerminal], [firstFailure]), except that an
 * endpoint running a claimed successor writes its member state, ordered after the dispatch it ran.
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
) : TensorMap.Owner() {
    /** Written only by the transitions below; volatile, so any thread reads the latest. */
    @Volatile
    var state: TaskState = TaskState.BUILDING
        private set

    /** Producers not yet finished, plus one guard held while building. */
    @Volatile
    private var faninCount: Int = 1

    /** References: its scope, each consumer, itself. Zero means consumed. */
    @Volatile
    private var refCount: Int = 2

    /**
     * Consumers to notify on completion, lock-free (see [attach]): null (none yet), a [Link] stack of them,
     * or, once terminal, [DONE] (completed) or [POISONED] (failed or skipped).
     */
    @Volatile
    private var fanout: Any? = null

    /** Device buffers this task is recorded as a user of ([Buffer.users]); it leaves them when it is terminal. */
    @Volatile
    var deviceBuffers: MutableList<Buffer>? = null

    /** Producers this task holds a reference on; released when it is terminal. */
    var producers: ArrayList<Task>? = null

    /**
     * Set when a producer failed or was skipped while this task was still being built (by [attach], on the
     * builder's thread, or by [skip], under this task's monitor); [publish] then reports it [Publish.POISONED].
     */
    var poisoned: Boolean = false
        private set

    /** Marker used by the orchestrator to de-duplicate producers found through several arguments. */
    var lastConsumerId: Long = -1


    /** When it was submitted, became ready and was dispatched: only on tasks of a traced run. */
    var times: TaskTimes? = null

    /** For alloc slots: the bytes it owns. */
    var allocation: HeapRing.Allocation? = null
    var allocRing: HeapRing? = null
    var allocBuffer: Buffer? = null

    // --- the scheduler's state (its token holder's) -------------------------------------------------------------
    val memberStates: Array<MemberState> = Array(members.size) { MemberState.NOT_DISPATCHED }
    var membersTerminal: Int = 0

    /** The callable's id among the worker's named callables (child processes), or -1. */
    var callableId: Int = -1

    var firstFailure: Throwable? = null

    /** Its TensorMap entries are dropped once it is consumed (they are erased then, or met first). */
    override val isConsumed: Boolean get() = state == TaskState.CONSUMED

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

    /** Makes this (new) task an alloc slot: already COMPLETED, never dispatched, referenced only by its scope. */
    fun initAllocSlot() {
        refCount = 1
        faninCount = 0
        state = TaskState.COMPLETED
    }

    // --- transitions -----------------------------------------------------------------------------

    /**
     * Makes [consumer] (being built, on the program's thread) wait for this task. Lock-free, so a builder
     * attaching to a task that is finishing on a worker never contends for its monitor (that contention
     * inflated a monitor per task and halved a chain's rate): the consumer is pushed onto [fanout] with a CAS
     * unless a terminal transition took the list first — it swaps in its marker ([takeFanout]) — so it never
     * misses that transition: a producer that already failed or was skipped poisons the consumer; one that
     * already completed has nothing left to wait for; otherwise the consumer joins [fanout] and its fan-in
     * grows by one (before the push: its build guard keeps the count above zero if the taker releases it
     * first). The caller de-duplicates producers and takes the reference.
     */
    fun attach(consumer: Task) {
        consumer.addFanin()
        while (true) {
            val head = fanout
            if (head === DONE || head === POISONED) {
                consumer.releaseFanin() // never the last: the consumer's build guard is still held
                if (head === POISONED) consumer.poisoned = true
                return
            }
            if (FANOUT.compareAndSet(this, head, Link(consumer, head as Link?))) return
        }
    }

    /**
     * Ends [fanout] with [marker] and returns the consumers attached so far, in attach order (null when there
     * were none, or when it had ended already). Every later [attach] sees the marker.
     */
    private fun takeFanout(marker: Any): ArrayList<Task>? {
        var c: Link? = FANOUT.getAndSet(this, marker) as? Link ?: return null
        val out = ArrayList<Task>(4)
        while (c != null) {
            out.add(c.task)
            c = c.next
        }
        out.reverse()
        return out
    }

    /** One consumer in [fanout]. */
    private class Link(val task: Task, val next: Link?)

    /**
     * BUILDING → PENDING: the build is over. [Publish.POISONED] when a producer failed meanwhile or the run
     * failed (the caller has it skipped: it keeps its build guard and never becomes ready);
     * [Publish.READY] when the build guard was the last thing it waited for (the caller queues it);
     * [Publish.WAITING] otherwise (its last producer will make it ready).
     */
    fun publish(): Publish {
        val skip: Boolean
        synchronized(this) {
            skip = poisoned || run.failed
            state = TaskState.PENDING
        }
        return when {
            skip -> Publish.POISONED
            releaseFanin() -> Publish.READY
            else -> Publish.WAITING
        }
    }

    /**
     * BUILDING → PENDING for a gate's task, which is never published: it keeps its build guard, so it
     * becomes ready only through [openGate].
     */
    fun holdAsGate() {
        synchronized(this) { state = TaskState.PENDING }
    }

    /** PENDING → READY: queued for a worker. Scheduler thread only (it alone moves published tasks forward). */
    fun queued() {
        state = TaskState.READY
        val tt = times
        if (tt != null) tt.ready = System.nanoTime()
    }

    /** READY → RUNNING: dispatched by the scheduler. Scheduler thread only. */
    fun dispatched() {
        state = TaskState.RUNNING
        val tt = times
        if (tt != null) tt.dispatched = System.nanoTime()
    }

    /** Terminal → CONSUMED: its last reference is gone and its slot and bytes are reclaimed. */
    fun consumed() {
        state = TaskState.CONSUMED
    }

    /**
     * PENDING → RUNNING on an endpoint's own thread (the successor hand-off), unless it was skipped or its
     * run failed meanwhile; returns whether it was claimed. Under the monitor, against a concurrent [skip].
     */
    fun claim(): Boolean = synchronized(this) {
        if (state == TaskState.PENDING && !run.failed) {
            state = TaskState.RUNNING
            times?.claimed()
            true
        } else {
            false
        }
    }

    /** RUNNING → COMPLETED; returns the consumers to release (null when there are none). */
    fun complete(): ArrayList<Task>? = terminal(TaskState.COMPLETED)

    /** RUNNING → FAILED; returns the consumers, to be skipped (null when there are none). */
    fun fail(): ArrayList<Task>? = terminal(TaskState.FAILED)

    private fun terminal(to: TaskState): ArrayList<Task>? {
        synchronized(this) { state = to }
        return takeFanout(if (to == TaskState.COMPLETED) DONE else POISONED)
    }

    /**
     * PENDING or READY → SKIPPED (it will never run); returns its consumers, to be skipped in turn (empty
     * when none), or null when it was not skipped: a task still BUILDING is only marked [poisoned] (its
     * builder skips it when it publishes), and a running or terminal one finishes on its own.
     */
    fun skip(): List<Task>? = synchronized(this) {
        when (state) {
            TaskState.BUILDING -> {
                poisoned = true
                null
            }
            TaskState.PENDING, TaskState.READY -> {
                state = TaskState.SKIPPED
                takeFanout(POISONED) ?: emptyList()
            }
            else -> null
        }
    }

    /**
     * A gate's task (never dispatched) PENDING → COMPLETED when the gate opens; returns its consumers to
     * release (empty when none), or null when it was not pending (already open, or skipped with its run).
     */
    fun openGate(): List<Task>? = synchronized(this) {
        if (state != TaskState.PENDING) return null
        state = TaskState.COMPLETED
        takeFanout(DONE) ?: emptyList()
    }

    /** What [publish] found. */
    enum class Publish { READY, WAITING, POISONED }

    override fun toString(): String = "task #$id '$name'"

    private companion object {
        /** [fanout]'s end markers: the task completed; it failed or was skipped. */
        val DONE = Any()
        val POISONED = Any()

        val FANOUT: AtomicReferenceFieldUpdater<Task, Any?> = AtomicReferenceFieldUpdater.newUpdater(Task::class.java, Any::class.java, "fanout")

        val FANIN: AtomicIntegerFieldUpdater<Task> = AtomicIntegerFieldUpdater.newUpdater(Task::class.java, "faninCount")
        val REFS: AtomicIntegerFieldUpdater<Task> = AtomicIntegerFieldUpdater.newUpdater(Task::class.java, "refCount")
    }
}
