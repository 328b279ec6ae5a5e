package dev.strata.shm

import dev.strata.wait.SpinPark
import java.lang.foreign.MemorySegment
import java.lang.foreign.ValueLayout
import java.lang.invoke.VarHandle

/**
 * The waiters' side of the park handshake on a shared-memory word ([SpinPark] states it and why it never
 * loses a wake-up): the number of waiters that announced they are about to park or parked, one 32-bit
 * word at [offset] of [segment], in the same shared file as the word they sleep on. A publisher stores
 * its new value first and then calls [wakeIfParked].
 */
internal class ParkedFlag(private val segment: MemorySegment, private val offset: Long) {
    /** A waiter is about to park: announce it before its last check of the word (volatile). */
    fun announce() {
        INT.getAndAdd(segment, offset, 1)
    }

    /** The waiter is awake again. */
    fun withdraw() {
        INT.getAndAdd(segment, offset, -1)
    }

    /** Whether a waiter announced that it parks (volatile read). */
    val isSet: Boolean get() = (INT.getVolatile(segment, offset) as Int) != 0

    /** The publisher's half: after storing the new value, wakes every waiter on [word] if one announced it parks; returns whether it called the kernel. */
    fun wakeIfParked(word: MemorySegment): Boolean {
        if (!isSet) return false
        Futex.wakeAll(word)
        return true
    }

    private companion object {
        val INT: VarHandle = ValueLayout.JAVA_INT.varHandle()
    }
}

/** [SpinPark]'s policy across processes: spin on a shared word, then sleep on it with a futex. */
internal object FutexWaiter {
    /**
     * Waits until [changed] is true: spins for at most [spinNanos] ([SpinPark.mostlySpin]), then parks on
     * [word] — announced through [parked], while the word still holds [expected] — in sleeps of at most
     * [sliceNanos], until [timeoutNanos] have passed since the call; [onPark] runs before each sleep.
     * Returns whether [changed] is true.
     */
    inline fun await(
        word: MemorySegment,
        parked: ParkedFlag,
        expected: Int,
        spinNanos: Long,
        timeoutNanos: Long,
        sliceNanos: Long = Long.MAX_VALUE,
        onPark: () -> Unit = {},
        changed: () -> Boolean,
    ): Boolean {
        val start = System.nanoTime()
        if (SpinPark.spin(minOf(spinNanos, timeoutNanos), SpinPark::mostlySpin, changed)) return true
        while (true) {
            val left = timeoutNanos - (System.nanoTime() - start)
            if (left <= 0) return changed()
            parked.announce()
            try {
                if (changed()) return true
                onPark()
                // Returns on a wake, on a timeout, on a signal, or at once if the word changed already.
                Futex.wait(word, expected, minOf(left, sliceNanos))
            } finally {
                parked.withdraw()
            }
            if (changed()) return true
        }
    }
}
