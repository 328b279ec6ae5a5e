package dev.strata.mailbox

import dev.strata.shm.SharedMemoryFile
import java.lang.invoke.VarHandle
import java.lang.foreign.ValueLayout
import java.nio.file.Path
import dev.strata.shm.FutexWaiter
import dev.strata.shm.ParkedFlag

/**
 * The parent's doorbell (DESIGN.md §7): one shared word that every child bumps after it changes its
 * mailbox's state, so one reactor thread in the parent can wait for all children at once.
 *
 * ```
 *   0  ring counter (i32)   — children add 1 after each state change; the reactor parks on it
 *  64  reactor parked (i32) — 1 while the reactor is about to park or parked
 * ```
 * Ringing makes the wake system call only when the reactor announced that it parked; waiting follows
 * [SpinPark][dev.strata.wait.SpinPark]'s policy and handshake ([FutexWaiter]).
 */
internal class Doorbell private constructor(val file: SharedMemoryFile) : AutoCloseable {
    private val seg = file.segment
    private val word = seg.asSlice(COUNTER, 4)
    private val parked = ParkedFlag(seg, PARKED)

    val path: Path get() = file.path

    /** Bumps the counter; wakes the reactor if it parked. Any thread, any process. */
    fun ring() {
        INT.getAndAdd(seg, COUNTER, 1)
        parked.wakeIfParked(word)
    }

    /** The counter now (volatile read). */
    fun value(): Int = INT.getVolatile(seg, COUNTER) as Int

    /**
     * Waits until the counter differs from [seen]: spins for [spinNanos], then parks for at most
     * [timeoutNanos] in total. Returns whether it changed. One waiter (the reactor).
     */
    fun await(seen: Int, spinNanos: Long, timeoutNanos: Long): Boolean =
        FutexWaiter.await(word, parked, seen, spinNanos, timeoutNanos) { value() != seen }

    override fun close() = file.close()

    companion object {
        const val COUNTER = 0L
        const val PARKED = 64L
        const val SIZE = 128L
        private val INT: VarHandle = ValueLayout.JAVA_INT.varHandle()

        fun create(): Doorbell = Doorbell(SharedMemoryFile.create(SIZE, "doorbell"))
        fun open(path: Path): Doorbell = Doorbell(SharedMemoryFile.open(path))
    }
}
