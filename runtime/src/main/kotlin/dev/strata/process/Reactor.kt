package dev.strata.process

import io.github.oshai.kotlinlogging.KotlinLogging
import java.util.concurrent.CopyOnWriteArrayList
import dev.strata.mailbox.Doorbell

private val log = KotlinLogging.logger {}

/**
 * The one thread of a parent that watches its child processes (DESIGN.md §7): it parks on the
 * [doorbell] children ring, and on each ring looks at the mailboxes of children that owe an answer,
 * reporting completions to the scheduler. No thread per child, no polling loop when idle: between
 * rings it spins for at most the worker's spin time, then parks (waking once a second regardless, a
 * safety net that costs nothing measurable).
 */
internal class Reactor(name: String, private val doorbell: Doorbell, private val spinNanos: Long) {
    private val endpoints = CopyOnWriteArrayList<ProcessEndpoint>()

    @Volatile
    private var stopped = false
    private val thread = Thread(::loop, "strata-$name-reactor").apply { isDaemon = true }

    fun add(e: ProcessEndpoint) {
        endpoints += e
    }

    fun start() = thread.start()

    private fun loop() {
        while (!stopped) {
            val seen = doorbell.value() // read before looking, so a ring while we look is not lost
            for (e in endpoints) {
                try {
                    e.poll()
                } catch (t: Throwable) {
                    log.error(t) { "${e.path}: handling a mailbox change failed" }
                }
            }
            if (stopped) break
            doorbell.await(seen, spinNanos, SAFETY_NET_NANOS)
        }
    }

    fun stop(timeoutMillis: Long = 2_000) {
        stopped = true
        doorbell.ring()
        if (thread.isAlive && thread !== Thread.currentThread()) thread.join(timeoutMillis)
    }

    private companion object {
        const val SAFETY_NET_NANOS = 1_000_000_000L
    }
}
