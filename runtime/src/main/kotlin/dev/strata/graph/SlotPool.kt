package dev.strata.graph

import kotlinx.coroutines.CancellableContinuation
import kotlinx.coroutines.suspendCancellableCoroutine
import java.util.concurrent.ConcurrentLinkedQueue
import java.util.concurrent.atomic.AtomicInteger
import kotlin.coroutines.resume

/**
 * The task window's free slots: a counting semaphore whose waiters suspend (never block a thread), and
 * which hands out several slots with one atomic step ([tryAcquireUpTo]) so a graph replay pays one
 * contended operation per chunk of tasks, not one per task.
 *
 * Releasing never hands a slot to a particular waiter: it returns the slot to the pool and wakes one
 * waiter, which takes it like anyone else (so a waiter that gave up — back-pressure timeout — loses
 * nothing). Thread-safe.
 */
internal class SlotPool(val capacity: Int) {
    private val free = AtomicInteger(capacity)
    private val waiters = ConcurrentLinkedQueue<CancellableContinuation<Unit>>()

    /** Free slots now (for tests and diagnostics). */
    val available: Int get() = free.get()

    /** Takes one slot if one is free. */
    fun tryAcquire(): Boolean {
        while (true) {
            val f = free.get()
            if (f <= 0) return false
            if (free.compareAndSet(f, f - 1)) return true
        }
    }

    /** Takes as many free slots as there are, up to [max]; returns how many (0 when none is free). */
    fun tryAcquireUpTo(max: Int): Int {
        while (true) {
            val f = free.get()
            if (f <= 0 || max <= 0) return 0
            val n = minOf(f, max)
            if (free.compareAndSet(f, f - n)) return n
        }
    }

    /** Takes one slot, suspending until one is released. Cancellable (a caller bounds it with a timeout). */
    suspend fun acquire() {
        while (!tryAcquire()) {
            suspendCancellableCoroutine { c ->
                waiters.add(c)
                c.invokeOnCancellation { waiters.remove(c) }
                // A release between our failed tryAcquire and the add above saw no waiter: look again.
                if (free.get() > 0 && waiters.remove(c)) c.resume(Unit)
            }
        }
    }

    /** Gives [n] slots back and wakes up to [n] waiters. */
    fun release(n: Int = 1) {
        free.addAndGet(n)
        var woken = 0
        while (woken < n) {
            val w = waiters.poll() ?: return
            if (w.isActive) {
                w.resume(Unit)
                woken++
            }
        }
    }
}
