package dev.strata.wait

import java.util.concurrent.locks.LockSupport

/**
 * [SpinPark]'s policy for one thread of this JVM waiting for work: spin ([SpinPark.spinThenYield]) for at
 * most [spinNanos], then park until [unpark] (`LockSupport`). An idle thread therefore costs nothing once its
 * spin budget is spent. The handshake is [SpinPark]'s: the waiter publishes [parked] and re-checks its
 * condition before parking; the waker makes the condition true before reading [parked] (both volatile).
 */
internal class Parker(private val spinNanos: Long) {
    // Not private: read by the inline wait loops.
    @Volatile
    var parked = false

    @Volatile
    var thread: Thread? = null

    /** Waits on the calling thread until [ready] is true or [stop] is true. */
    inline fun await(ready: () -> Boolean, stop: () -> Boolean) {
        if (SpinPark.spin(spinNanos, SpinPark::spinThenYield) { ready() || stop() }) return
        while (!ready() && !stop()) parkOnce(ready, stop)
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
}
