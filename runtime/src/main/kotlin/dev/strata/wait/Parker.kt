package dev.strata.wait

import java.util.concurrent.locks.LockSupport

/**
 * The one way Strata threads wait for work: spin for at most [spinNanos] (first with `onSpinWait`, then
 * yielding the core so that on a small machine the thread we wait for can run), then park until
 * [Parker.unpark]. An idle thread therefore costs nothing once its spin budget is spent.
 *
 * The handshake never loses a wake-up: the waiter publishes `parked = true` and re-checks its condition
 * before parking; the waker makes its condition true before reading `parked` (both volatile).
 */
internal class Parker(private val spinNanos: Long) {
    // Not private: read by the inline wait loops.
    @Volatile
    var parked = false

    @Volatile
    var thread: Thread? = null

    /** Waits on the calling thread until [ready] is true or [stop] is true. */
    inline fun await(ready: () -> Boolean, stop: () -> Boolean) {
        if (ready()) return
        val deadline = System.nanoTime() + spinNanos
        var spins = 0
        while (!ready() && !stop()) {
            if (spins < SPIN_TRIES) {
                spins++
                Thread.onSpinWait()
            } else if (System.nanoTime() < deadline) {
                Thread.yield()
            } else {
                parkOnce(ready, stop)
            }
        }
    }

    inline fun parkOnce(ready: () -> Boolean, stop: () -> Boolean) {
        thread = Thread.currentThread()
        parked = true
        try {
            if (!ready() && !stop()) LockSupport.park(this)
        } finally {
            parked = false
        }
    }

    /** Wakes the waiter if it parked. Call after making its condition true. */
    fun unpark() {
        if (parked) LockSupport.unpark(thread)
    }

    /** Wakes the waiter unconditionally (used on shutdown). */
    fun unparkAlways() {
        thread?.let { LockSupport.unpark(it) }
    }

    companion object {
        const val SPIN_TRIES = 200
    }
}
