package dev.strata.graph

import dev.strata.task.TaskArgs
import dev.strata.task.TaskCallable
import dev.strata.task.Target
import dev.strata.tensor.Buffer
import dev.strata.trace.TaskTimes
import java.util.concurrent.atomic.AtomicIntegerFieldUpdater

/**
 * One node of the task DAG: a single task, a group task (several members, one per worker), or the
 * synthetic slot that owns the bytes of an `alloc` (already complete, never dispatched).
 *
 * Its lifecycle ([TaskState]) is written only by the transition methods below, each documented with its
 * discipline once:
 *
 * - **building** (the program's thread, nothing published yet): [attach] / [attachUnpublished] a consumer,
 *   then [publish] ends the build;
 * - **dispatch** (the scheduler thread): READY and RUNNING are plain writes of [state] there, since
 *   only that thread moves a published task forward; [claim] is the one exception: an endpoint's thread
 *   takes a ready successor for itself (the successor hand-off);
 * - **terminal** ([complete], [fail], [skip], [openGate]): under the task's monitor, which is what makes
 *   [attach] safe: a consumer attached under the same monitor either lands in [fanout] before the
 *   transition (and is released by whoever made it) or sees the terminal state (and does not wait);
 * - **references** ([tryRetain], [release]) and **fan-in** ([addFanin], [releaseFanin]) are atomic counts,
 *   safe from any thread; the caller that takes either to zero acts on it (consumes or queues the task).
 *
 * Ownership of the other fields: the program's thread builds the task; after publication the scheduler
 * thread owns the dispatch fields ([memberStates], [membersTerminal], [firstFailure]), except that an
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

    /** Consumers to notify on completion; null once terminal. Guarded by `this` (see [attach]). */
    var fanout: ArrayList<Task>? = null
        private set

    /** Device buffers this task is recorded as a user of ([Buffer.users]); it leaves them when it is terminal. */
    @Volatile
    var deviceBuffers: MutableList<Buffer>? = null

    /** Producers this task holds a reference on; released when it is terminal. */
    var producers: ArrayList<Task>? = null

    /**
     * Set when a producer failed or was skipped while this task was still being built (by [attach] or
     * [skip], under this task's monitor); [publish] then reports it [Publish.POISONED].
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

    // --- scheduler-thread state -------------------------------------------------------------
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
     * Makes [consumer] (being built) wait for this task. Under this task's monitor, so it never misses the
     * terminal transition: a producer that already failed or was skipped poisons the consumer; one that
     * already completed has nothing left to wait for; otherwise the consumer joins [fanout] and its
     * fan-in grows by one. The caller de-duplicates producers and takes the reference.
     */
    fun attach(consumer: Task) {
        synchronized(this) {
            when (state) {
                TaskState.FAILED, TaskState.SKIPPED -> consumer.poisoned = true
                TaskState.COMPLETED, TaskState.CONSUMED -> Unit // already done: nothing to wait for
                else -> addConsumer(consumer)
            }
        }
    }

    /**
     * [attach] for a producer that is not published yet (a replay builds a chunk of tasks before publishing
     * any): no other thread can see it (a skip only marks a building task poisoned), so no lock.
     */
    fun attachUnpublished(consumer: Task) = addConsumer(consumer)

    private fun addConsumer(consumer: Task) {
        (fanout ?: ArrayList<Task>(2).also { fanout = it }).add(consumer)
        consumer.addFanin()
    }

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

    private fun terminal(to: TaskState): ArrayList<Task>? = synchronized(this) {
        state = to
        val consumers = fanout
        fanout = null
        consumers
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
                val consumers = fanout
                fanout = null
                consumers ?: emptyList()
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
        val consumers = fanout
        fanout = null
        consumers ?: emptyList()
    }

    /** What [publish] found. */
    enum class Publish { READY, WAITING, POISONED }

    override fun toString(): String = "task #$id '$name'"

    private companion object {
        val FANIN: AtomicIntegerFieldUpdater<Task> = AtomicIntegerFieldUpdater.newUpdater(Task::class.java, "faninCount")
        val REFS: AtomicIntegerFieldUpdater<Task> = AtomicIntegerFieldUpdater.newUpdater(Task::class.java, "refCount")
    }
}
