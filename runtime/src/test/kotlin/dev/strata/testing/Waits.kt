package dev.strata.testing

import dev.strata.task.Orchestrator
import dev.strata.run.RunBuilder
import dev.strata.graph.Run
import io.kotest.assertions.fail
import java.util.concurrent.CompletableFuture
import java.util.concurrent.CountDownLatch
import java.util.concurrent.ExecutionException
import java.util.concurrent.TimeUnit
import java.util.concurrent.TimeoutException
import kotlin.time.Duration
import kotlin.time.Duration.Companion.seconds

/**
 * Bounded waits for fault tests: every blocking wait in a spec goes through these so that an engine bug
 * fails the test within [HANG_GUARD] instead of hanging the suite. They are hang guards, not timing
 * assertions: a correct engine finishes far sooner.
 */
internal val HANG_GUARD: Duration = 10.seconds

/** Waits for the latch; fails the test (or the task running it) if it is not opened within [timeout]. */
internal fun CountDownLatch.awaitOrFail(what: String, timeout: Duration = HANG_GUARD) {
    if (!await(timeout.inWholeMilliseconds, TimeUnit.MILLISECONDS)) fail("timed out after $timeout waiting for $what")
}

/** Polls [condition] every millisecond; fails if it does not hold within [timeout]. */
internal fun waitUntil(what: String, timeout: Duration = HANG_GUARD, condition: () -> Boolean) {
    val deadline = System.nanoTime() + timeout.inWholeNanoseconds
    while (!condition()) {
        if (System.nanoTime() > deadline) fail("timed out after $timeout waiting until $what")
        Thread.sleep(1)
    }
}

/** Runs [block] on a new daemon thread; the future completes with its result or exception. */
internal fun <T> background(name: String, block: () -> T): CompletableFuture<T> {
    val f = CompletableFuture<T>()
    Thread({
        try {
            f.complete(block())
        } catch (t: Throwable) {
            f.completeExceptionally(t)
        }
    }, "test-$name").apply {
        isDaemon = true
        start()
    }
    return f
}

/** The value of a [background] block, waiting at most [timeout]; rethrows the block's own exception. */
internal fun <T> CompletableFuture<T>.getOrFail(what: String, timeout: Duration = HANG_GUARD): T =
    try {
        get(timeout.inWholeMilliseconds, TimeUnit.MILLISECONDS)
    } catch (_: TimeoutException) {
        fail("timed out after $timeout waiting for $what")
    } catch (e: ExecutionException) {
        throw e.cause ?: e
    }

/** The engine's state of the run a program builds (white-box access for tests in this module). */
internal val Orchestrator.engineRun: Run get() = (this as RunBuilder).run

/** Waits (polling, bounded) until the run being built has recorded a failure. */
internal fun Orchestrator.waitUntilRunFailed() {
    val run = engineRun
    waitUntil("run #${run.id} has failed") { run.failed }
}
