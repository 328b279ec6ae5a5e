package dev.strata.graph

import dev.strata.error.BackPressureTimeoutException
import kotlinx.coroutines.withTimeoutOrNull
import kotlin.time.Duration

/**
 * A worker's bounded window of in-flight task slots (DESIGN.md §4) and the reclaiming of a consumed
 * task: its slot, its scope bytes and, while its run builds, its TensorMap entries. Thread-safe.
 */
internal class TaskWindow(capacity: Int, private val backPressureTimeout: Duration) {
    private val slots = SlotPool(capacity)

    /** Number of slots. */
    val capacity: Int get() = slots.capacity

    /** Free slots now (tests: every slot comes back once runs are over). */
    val free: Int get() = slots.available

    /** Takes a slot if one is free now, without suspending (and without a continuation to allocate). */
    fun tryAcquire(): Boolean = slots.tryAcquire()

    /** Takes as many free slots as there are now, up to [max], in one step; returns how many. */
    fun tryAcquireUpTo(max: Int): Int = slots.tryAcquireUpTo(max)

    /** Takes a slot, suspending under back-pressure; throws [BackPressureTimeoutException] naming the setting to raise. */
    suspend fun acquire() {
        if (slots.tryAcquire()) return
        withTimeoutOrNull(backPressureTimeout) { slots.acquire() } ?: throw BackPressureTimeoutException(
            "the task ring (${slots.capacity} slots)", "taskWindow", backPressureTimeout,
            "Every slot holds a task that is running, waiting, or finished but still referenced by its scope or " +
                "consumers. Raise WorkerConfig.taskWindow (now ${slots.capacity}) or wrap loops in scope { } so " +
                "finished tasks are released sooner.",
        )
    }

    /** Gives back [n] slots taken and not used. */
    fun release(n: Int = 1) = slots.release(n)

    /**
     * [task]'s last reference is gone: it becomes CONSUMED, the bytes of an alloc slot go back to their
     * ring, its slot comes back, and its TensorMap entries are queued for erasure by the builder (only
     * while its run still builds: afterwards the map is dropped whole). Any thread.
     */
    fun consume(task: Task) {
        task.consumed()
        task.allocation?.let { a ->
            task.allocBuffer?.isReleased = true
            task.allocRing!!.release(a)
        }
        slots.release()
        if (task.mapEntries != null && task.run.building) task.run.consumed.offer(task)
    }
}

/**
 * The heap rings of a worker, one per scope depth (the deepest shared by every deeper scope): where
 * `alloc` takes its bytes, in shared memory when child processes must see them. Thread-safe.
 */
internal class HeapRings(private val bytes: Long, shared: Boolean, private val backPressureTimeout: Duration) {
    private val rings = Array(Scope.HEAP_RINGS) { HeapRing(it, bytes, shared) }

    /** Allocates [size] bytes from the ring of scope [depth] if they fit now; null otherwise (then call [allocate]). */
    fun tryAllocate(depth: Int, size: Long): Pair<HeapRing, HeapRing.Allocation>? {
        val ring = rings[minOf(depth, Scope.HEAP_RINGS - 1)]
        if (ring.sizeFor(size) > ring.capacity) return null
        return ring.tryAllocate(size)?.let { ring to it }
    }

    /**
     * Allocates [size] bytes from the ring of scope [depth], suspending under back-pressure; throws
     * [BackPressureTimeoutException] naming the setting to raise (at once when the allocation can never fit).
     */
    suspend fun allocate(depth: Int, size: Long): Pair<HeapRing, HeapRing.Allocation> {
        val ring = rings[minOf(depth, Scope.HEAP_RINGS - 1)]
        val needed = ring.sizeFor(size)
        if (needed > ring.capacity) {
            throw BackPressureTimeoutException(
                "heap ring ${ring.index} (scope depth $depth, ${ring.capacity} B)", "heapRingBytes", Duration.ZERO,
                "An alloc of $size B can never fit. Raise WorkerConfig.heapRingBytes (now $bytes) " +
                    "or allocate a caller-owned buffer with hostTensor().",
            )
        }
        val a = withTimeoutOrNull(backPressureTimeout) { ring.allocate(size) } ?: throw BackPressureTimeoutException(
            "heap ring ${ring.index} (scope depth $depth, ${ring.capacity} B)", "heapRingBytes", backPressureTimeout,
            "An alloc of $size B found ${ring.capacity - ring.used} B free. Raise WorkerConfig.heapRingBytes " +
                "(now $bytes) or end the scopes holding allocations sooner.",
        )
        return ring to a
    }

    /** Removes the rings' shared-memory files (at close). */
    fun unlink() {
        for (r in rings) r.unlink()
    }
}
