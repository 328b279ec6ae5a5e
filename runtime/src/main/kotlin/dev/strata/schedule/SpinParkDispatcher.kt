package dev.strata.schedule

import io.github.oshai.kotlinlogging.KotlinLogging
import kotlinx.coroutines.CoroutineDispatcher
import java.util.concurrent.ConcurrentLinkedQueue
import kotlin.coroutines.CoroutineContext
import dev.strata.wait.Parker

private val log = KotlinLogging.logger {}

/**
 * A coroutine dispatcher backed by one dedicated daemon thread that waits for work with [Parker]:
 * a bounded spin (so a scheduler woken microseconds after it went idle reacts in nanoseconds), then a
 * park (so an idle worker costs no CPU). Never busy-waits beyond the spin budget.
 */
internal class SpinParkDispatcher(name: String, spinNanos: Long) : CoroutineDispatcher(), AutoCloseable {
    private val queue = ConcurrentLinkedQueue<Runnable>()
    private val parker = Parker(spinNanos)

    @Volatile
    private var closed = false

    val thread: Thread = Thread(::loop, name).apply {
        isDaemon = true
        start()
    }

    override fun dispatch(context: CoroutineContext, block: Runnable) {
        queue.offer(block)
        parker.unpark()
    }

    private fun loop() {
        while (true) {
            parker.await(ready = { !queue.isEmpty() }, stop = { closed })
            val r = queue.poll() ?: if (closed) break else continue
            try {
                r.run()
            } catch (t: Throwable) {
                log.error(t) { "uncaught error on ${thread.name}" }
            }
        }
    }

    /** Stops the thread once the queued work ran; waits at most [timeoutMillis]. */
    fun close(timeoutMillis: Long) {
        closed = true
        parker.unparkAlways()
        if (Thread.currentThread() !== thread) thread.join(timeoutMillis)
    }

    override fun close(): Unit = close(1_000)
}
