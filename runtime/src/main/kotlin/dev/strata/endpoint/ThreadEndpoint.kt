package dev.strata.endpoint

import dev.strata.run.TaskFailedException
import dev.strata.schedule.Parker
import dev.strata.task.TaskContext
import dev.strata.worker.Worker
import io.github.oshai.kotlinlogging.KotlinLogging
import java.util.concurrent.atomic.AtomicReference

private val log = KotlinLogging.logger {}

/**
 * An in-process worker: one dedicated daemon thread that runs the callables dispatched to it, waiting
 * between tasks with a bounded spin and then parking (no CPU when idle). Used for host sub workers and
 * for next-level children that live in the same JVM ([nested] is then the child's own worker).
 */
internal class ThreadEndpoint(
    override val path: String,
    override val index: Int,
    private val nested: Worker?,
    spinNanos: Long,
) : Endpoint {
    private val slot = AtomicReference<Dispatch?>()
    private val parker = Parker(spinNanos)

    @Volatile
    private var closed = false
    private lateinit var onDone: (Dispatch) -> Dispatch?
    private var thread: Thread? = null

    override fun start(onDone: (Dispatch) -> Dispatch?) {
        this.onDone = onDone
        thread = Thread(::loop, "strata-${path.replace(' ', '-')}").apply {
            isDaemon = true
            start()
        }
    }

    override fun ownsCurrentThread(): Boolean = thread === Thread.currentThread()

    override fun dispatch(dispatch: Dispatch) {
        check(!closed) { "$path is closed" }
        check(slot.compareAndSet(null, dispatch)) { "$path is busy: the scheduler dispatched to a busy worker" }
        parker.unpark()
    }

    private fun loop() {
        while (true) {
            parker.await(ready = { slot.get() != null }, stop = { closed })
            var d: Dispatch? = slot.get() ?: break // closed and nothing left to run
            while (d != null) {
                execute(d)
                slot.set(null)
                d = try {
                    onDone(d) // may hand back a successor to run right here
                } catch (t: Throwable) {
                    log.error(t) { "$path could not report the completion of ${d!!.task}" }
                    null
                }
                if (d != null) slot.set(d)
            }
        }
    }

    private fun execute(d: Dispatch) {
        val task = d.task
        try {
            val ctx = TaskContext(task.members[d.member], d.member, task.members.size, path, nested)
            task.callable!!.call(ctx)
        } catch (t: Throwable) {
            d.error = TaskFailedException.of(path, task.id, task.name, t)
        }
    }

    override fun close(timeoutMillis: Long) {
        closed = true
        parker.unparkAlways()
        val t = thread ?: return
        if (t !== Thread.currentThread()) {
            t.join(timeoutMillis)
            if (t.isAlive) log.warn { "$path: a task is still running after ${timeoutMillis}ms; leaving its daemon thread behind" }
        }
        try {
            nested?.close()
        } catch (e: Exception) {
            log.warn(e) { "$path: closing the nested worker failed" }
        }
    }
}
