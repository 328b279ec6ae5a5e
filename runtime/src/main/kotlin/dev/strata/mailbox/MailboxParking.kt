package dev.strata.mailbox

import dev.strata.shm.Futex
import java.lang.foreign.MemorySegment
import java.lang.foreign.ValueLayout
import java.lang.invoke.VarHandle
import java.util.concurrent.atomic.LongAdder

/** Which end of a mailbox a [MailboxParking] serves. */
public enum class MailboxSide { PARENT, CHILD }

/**
 * Waiting on a mailbox's state word without spinning forever (DESIGN.md §7): spin for a bounded time,
 * then park on a shared futex on the word. The publisher makes the wake system call only when the peer
 * announced that it parked, so a hot exchange costs no system call at all.
 *
 * The handshake is Dekker's: the waiter stores its parked flag, then loads the state; the publisher
 * stores the state, then loads the peer's parked flag — all four accesses volatile (sequentially
 * consistent), so at least one side sees the other. A state change that lands between the waiter's
 * check and its futex call makes the kernel return at once (the word no longer holds the expected value).
 *
 * One instance per side; [awaitChange] from one thread at a time. Holds no native resources
 * ([close] is there for symmetry with the mailbox's owners).
 */
public class MailboxParking(private val mailbox: Mailbox, side: MailboxSide) : AutoCloseable {
    private val word: MemorySegment = mailbox.stateWord
    private val ownParked: Long
    private val peerParked: Long

    init {
        if (side == MailboxSide.PARENT) {
            ownParked = MailboxLayout.PARENT_PARKED_OFFSET
            peerParked = MailboxLayout.CHILD_PARKED_OFFSET
        } else {
            ownParked = MailboxLayout.CHILD_PARKED_OFFSET
            peerParked = MailboxLayout.PARENT_PARKED_OFFSET
        }
    }

    /** Futex wake calls made by [publish] (diagnostics and tests). */
    public val wakeCalls: LongAdder = LongAdder()

    /** Futex waits entered by [awaitChange] (diagnostics and tests). */
    public val parks: LongAdder = LongAdder()

    /**
     * Publishes [state] (payload written before it becomes visible with it) and wakes the peer if it
     * announced that it parked.
     */
    public fun publish(state: MailboxState) {
        INT.setVolatile(mailbox.segment, MailboxLayout.STATE_OFFSET, state.code)
        if ((INT.getVolatile(mailbox.segment, peerParked) as Int) != 0) wake()
    }

    /**
     * Waits until the state is no longer [observed]: spins for at most [spinNanos], then parks. Returns
     * the new state, or [observed] if [timeoutNanos] passed first (the caller decides what a timeout
     * means). Throws [dev.strata.error.ProtocolException] if the peer wrote garbage.
     */
    public fun awaitChange(observed: MailboxState, spinNanos: Long, timeoutNanos: Long): MailboxState {
        val start = System.nanoTime()
        var s = mailbox.state()
        if (s != observed) return s
        val spinEnd = start + minOf(spinNanos, timeoutNanos)
        var spins = 0
        while (System.nanoTime() < spinEnd) {
            s = mailbox.state()
            if (s != observed) return s
            if (++spins and 63 == 0) Thread.yield() else Thread.onSpinWait()
        }
        while (true) {
            val left = timeoutNanos - (System.nanoTime() - start)
            if (left <= 0) return mailbox.state()
            INT.setVolatile(mailbox.segment, ownParked, 1)
            try {
                s = MailboxState.ofCode(INT.getVolatile(mailbox.segment, MailboxLayout.STATE_OFFSET) as Int) ?: mailbox.state()
                if (s != observed) return s
                parks.increment()
                // Returns on a wake, on a timeout, on a signal, or at once if the word changed already.
                Futex.wait(word, observed.code, left)
            } finally {
                INT.setVolatile(mailbox.segment, ownParked, 0)
            }
            s = mailbox.state()
            if (s != observed) return s
        }
    }

    private fun wake() {
        wakeCalls.increment()
        Futex.wakeAll(word)
    }

    override fun close(): Unit = Unit

    private companion object {
        val INT: VarHandle = ValueLayout.JAVA_INT.varHandle()
    }
}
