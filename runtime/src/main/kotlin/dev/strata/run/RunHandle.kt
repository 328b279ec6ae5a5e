package dev.strata.run

import kotlinx.coroutines.future.await
import java.util.concurrent.CompletableFuture
import java.util.concurrent.ExecutionException
import java.util.concurrent.TimeUnit
import java.util.concurrent.TimeoutException
import kotlin.time.Duration
import dev.strata.error.RunTimeoutException
import dev.strata.graph.Run
import dev.strata.wait.SpinPark

/**
 * A run in flight, returned by `Worker.submit`. Behaves like a `Deferred<Unit>`:
 * [await] suspends until the run finished and throws its error; [result] does the same, blocking;
 * [join] waits without throwing the run's error; [cancel] skips the tasks that have not started and stops the running ones.
 *
 * Thread-safe. A run is done when every task it submitted is terminal and its program has returned.
 */
public class RunHandle internal constructor(private val run: Run, private val spinNanos: Long) {
    private val future: CompletableFuture<Unit> = run.done

    /** The run's sequence number in its worker. */
    public val id: Long get() = run.id

    /**
     * The run's statistics: tasks by final state, wall time, time waiting on back-pressure. Never blocks;
     * exact once the run finished, a snapshot while it runs. `stats.summary()` is the one-line report.
     */
    public val stats: RunStats get() = RunStats.of(run)

    /** True once the run finished, successfully or not. Never blocks. */
    public val isDone: Boolean get() = future.isDone

    /** The run's first error once it finished with one; null while running or after a success. */
    public val error: Throwable?
        get() = if (future.isCompletedExceptionally) run.firstError.get() else null

    /** Suspends until the run finished; throws its first error. Cancelling the caller does not cancel the run. */
    public suspend fun await() {
        if (!isDone) {
            try {
                future.await()
            } catch (e: ExecutionException) {
                throw e.cause ?: e
            }
        }
        rethrow()
    }

    /**
     * Blocks until the run finished or [timeout] passed; returns whether it finished. Does not throw the
     * run's error (see [result]).
     */
    public fun join(timeout: Duration = Duration.INFINITE): Boolean {
        if (spinUntilDone()) return true
        try {
            if (timeout == Duration.INFINITE) future.get() else future.get(timeout.inWholeNanoseconds, TimeUnit.NANOSECONDS)
        } catch (_: TimeoutException) {
            return false
        } catch (_: ExecutionException) {
            // finished with an error: still finished
        }
        return true
    }

    /**
     * Blocks until the run finished and throws its first error, if any. Throws [RunTimeoutException] if it
     * did not finish within [timeout] (the run goes on).
     */
    public fun result(timeout: Duration = Duration.INFINITE) {
        if (!join(timeout)) throw RunTimeoutException(id, timeout)
        rethrow()
    }

    /**
     * Cancels the run: tasks not yet dispatched are skipped; running tasks are interrupted — on a thread
     * through `Thread.interrupt` (a task that ignores it runs on: a JVM thread cannot be killed), in a child
     * JVM by the child's watch thread, and a child whose task has not returned within the worker's
     * `closeTimeout` is killed and replaced by a fresh one. The run ends with
     * [dev.strata.error.RunCancelledException] (unless it already failed or finished). Later submits of the run throw.
     */
    public fun cancel() {
        run.cancel()
    }

    private fun rethrow() {
        if (future.isCompletedExceptionally) throw run.firstError.get() ?: IllegalStateException("run #$id failed")
    }

    /**
     * Bounded wait for short runs, cheaper than blocking when the result is microseconds away
     * ([SpinPark]'s spin; blocking on the future is the park). The waiter has nothing else to do, so it
     * pauses by yielding its core — or, on a worker with child processes, by polling their mailboxes
     * itself ([Run.helper]; still yielding every 8th pause), so the completion that ends the run needs no
     * hand-off from the reactor thread.
     */
    private fun spinUntilDone(): Boolean {
        val help = run.helper ?: return SpinPark.spin(spinNanos, { Thread.yield() }) { future.isDone }
        return SpinPark.spin(spinNanos, { n -> if (n and 7 == 0) Thread.yield() else help() }) { future.isDone }
    }

    override fun toString(): String = "RunHandle(#$id, ${if (isDone) "done" else "running"})"
}
