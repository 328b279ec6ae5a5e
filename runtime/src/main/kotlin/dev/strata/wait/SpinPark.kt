package dev.strata.wait

/**
 * The one way every Strata thread waits (DESIGN.md §7): **spin, then park.**
 *
 * 1. **Spin** for at most the spin budget (`WorkerConfig.spin`, default 50 µs): check the condition, and
 *    pause between two checks. How a waiter pauses is the one thing that differs, and it is named here:
 *    - [mostlySpin] — a cross-process waiter (a child's mailbox, the parent's doorbell, a domain's
 *      barrier): `Thread.onSpinWait()`, yielding every 64th pause; the peer answers within ~100 ns;
 *    - [spinThenYield] — a thread of this JVM waiting for work (the scheduler's dispatcher, every
 *      `ThreadEndpoint`, through [Parker]): `onSpinWait()` for the first 200 pauses, then `yield()` each
 *      time: on a small machine the thread it waits for may need this core;
 *    - the run handle's waiter has nothing else to do: it yields at every pause, or polls the mailboxes of
 *      child JVMs itself (yielding every 8th pause).
 * 2. **Park** once the budget is spent, until woken or a deadline passes: [Parker] in one JVM
 *    (`LockSupport`), a shared futex on the word across processes (`shm.FutexWaiter`); the run handle
 *    blocks on the run's future. An idle thread therefore costs no CPU.
 *
 * The pauses are the ones each loop used before they shared this code; giving every loop one pause was
 * measured and rejected (docs/performance.md, "Issue 12"): a short spin then a yield at every pause cost
 * independent tasks up to half their rate and raised idle children's CPU, and spin-waiting with a yield
 * every 64th pause everywhere slowed the program's submits (its thread competes with the spinning
 * workers on 2 cores).
 *
 * **Announce parked, wake only if parked.** A waker makes the wake call (`unpark`, `FUTEX_WAKE`) only
 * when the waiter announced that it is parked, so a hot exchange makes no system call at all. It is
 * Dekker's handshake, and this is the one place its argument is written:
 *
 * ```
 *   waiter:  store parked = 1    then  load the condition   (sleep only if it is still false)
 *   waker:   store the condition then  load parked          (wake only if it is set)
 * ```
 * All four accesses are volatile, i.e. sequentially consistent, so in every interleaving at least one
 * side sees the other's store: the waiter sees the condition and does not sleep, or the waker sees the
 * flag and wakes it, or both. A wake that lands between the waiter's last check and its sleep is not
 * lost either: `LockSupport` keeps a permit for the next `park`, and `FUTEX_WAIT` returns at once when
 * the word no longer holds the value the waiter expected.
 */
internal object SpinPark {
    /** Pause [n] (from 1) of a cross-process waiter: spin-wait, yielding every 64th time. */
    fun mostlySpin(n: Int) {
        if (n and 63 == 0) Thread.yield() else Thread.onSpinWait()
    }

    /** Pause [n] (from 1) of a thread of this JVM waiting for work: spin-wait 200 times, then yield each time. */
    fun spinThenYield(n: Int) {
        if (n <= 200) Thread.onSpinWait() else Thread.yield()
    }

    /**
     * Checks [done] until it is true or [spinNanos] passed, calling [pause] with the pause's number (from 1)
     * between two checks; returns whether [done] became true.
     */
    inline fun spin(spinNanos: Long, pause: (Int) -> Unit, done: () -> Boolean): Boolean {
        if (done()) return true
        val start = System.nanoTime()
        var pauses = 0
        while (true) {
            pause(++pauses)
            if (done()) return true
            // The clock is read every 8th pause only: a read costs about as much as a pause, and the
            // budget is coarse anyway (a spinning check must stay as cheap as the hand-off it waits for).
            if (pauses and 7 == 0 && System.nanoTime() - start >= spinNanos) return false
        }
    }
}
