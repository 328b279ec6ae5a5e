package dev.strata.shm

import dev.strata.nativebind.posix.errno_h
import dev.strata.nativebind.posix.linux_futex_h
import java.lang.foreign.Arena
import java.lang.foreign.MemorySegment
import java.lang.foreign.ValueLayout

/** Shared futex wait and wake on a 32-bit word of a mapped segment, callable from any thread. */
internal object Futex {
    private class Scratch {
        val arena: Arena = Arena.ofAuto()
        val errno: MemorySegment = errno_h.allocateCapture(arena)
        val timespec: MemorySegment = arena.allocate(linux_futex_h.timespec)
    }

    private val scratch = ThreadLocal.withInitial { Scratch() }

    /** Wakes every thread (of any process) parked on [word]. */
    fun wakeAll(word: MemorySegment) {
        linux_futex_h.futex(scratch.get().errno, word, linux_futex_h.FUTEX_WAKE, Int.MAX_VALUE, MemorySegment.NULL, MemorySegment.NULL, 0)
    }

    /**
     * Parks until woken, [timeoutNanos] pass, a signal arrives, or at once if [word] no longer holds
     * [expected]. Callers re-check their condition afterwards.
     */
    fun wait(word: MemorySegment, expected: Int, timeoutNanos: Long) {
        val s = scratch.get()
        s.timespec.set(ValueLayout.JAVA_LONG, 0, timeoutNanos / 1_000_000_000)
        s.timespec.set(ValueLayout.JAVA_LONG, 8, timeoutNanos % 1_000_000_000)
        linux_futex_h.futex(s.errno, word, linux_futex_h.FUTEX_WAIT, expected, s.timespec, MemorySegment.NULL, 0)
    }
}
