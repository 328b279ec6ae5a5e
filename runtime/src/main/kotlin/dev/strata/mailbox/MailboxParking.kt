package dev.strata.mailbox

import dev.strata.shm.FutexWaiter
import dev.strata.shm.ParkedFlag
import java.lang.foreign.MemorySegment
import java.lang.foreign.ValueLayout
import java.lang.invoke.VarHandle
import java.util.concurrent.atomic.LongAdder

/** Which end of a mailbox a [MailboxParking] serves. */
public enum class MailboxSide { PARENT, CHILD }

/**
 * Waiting on a mailbox's state word without spinning forever (DESIGN.md §7), and publishing it: the
 * [SpinPark][dev.strata.wait.SpinPark] policy on the shared word — spin for a bounded time, then park on a
 * shared futex — with its "announce parked, wake only if parked" handshake through the side's parked flag
 * ([MailboxLayout.CHILD_PARKED_OFFSET], [MailboxLayout.PARENT_PARKED_OFFSET]). A hot exchange makes no
 * system call at all. Both the parent ([dev.strata.process.ProcessEndpoint]) and the child publish every
 * state through [publish]: it is the only writer of the state word after creation.
 *
 * One instance per side; [awaitChange] from one thread at a time. Holds no native resources
 * ([close] is there for symmetry with the mailbox's owners).
 */
public class MailboxParking(private val mailbox: Mailbox, side: MailboxSide) : AutoCloseable {
    private val word: MemorySegment = mailbox.stateWord
    private val own: ParkedFlag
    private val peer: ParkedFlag

    init {
        val parent = ParkedFlag(mailbox.segment, MailboxLayout.PARENT_PARKED_OFFSET)
        val child = ParkedFlag(mailbox.segment, MailboxLayout.CHILD_PARKED_OFFSET)
        own = if (side == MailboxSide.PARENT) parent else child
        peer = if (side == MailboxSide.PARENT) child else parent
    }

    /** Futex wake calls made by [publish] (diagnostics and tests). */
    public val wakeCalls: LongAdder = LongAdder()

    /** Futex waits entered by [awaitChange] (diagnostics and tests). */
    public val parks: LongAdder = LongAdder()

    /**
     * Publishes [state] — a volatile store, so every payload write before it is visible with it, and the
     * store half of the park handshake — then wakes the peer if it announced that it parked.
     */
    public fun publish(state: MailboxState) {
        INT.setVolatile(mailbox.segment, MailboxLayout.STATE_OFFSET, state.code)
        if (peer.wakeIfParked(word)) wakeCalls.increment()
    }

    /**
     * Waits until the state is no longer [observed]: spins for at most [spinNanos], then parks. Returns
     * the new state, or [observed] if [timeoutNanos] passed first (the caller decides what a timeout
     * means). Throws [dev.strata.error.ProtocolException] if the peer wrote garbage.
     */
    public fun awaitChange(observed: MailboxState, spinNanos: Long, timeoutNanos: Long): MailboxState {
        var s = mailbox.state()
        if (s != observed) return s
        FutexWaiter.await(word, own, observed.code, spinNanos, timeoutNanos, onPark = { parks.increment() }) {
            s = mailbox.state()
            s != observed
        }
        return s
    }

    override fun close(): Unit = Unit

    private companion object {
        val INT: VarHandle = ValueLayout.JAVA_INT.varHandle()
    }
}
