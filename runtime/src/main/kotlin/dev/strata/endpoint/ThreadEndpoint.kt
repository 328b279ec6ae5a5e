package dev.strata.endpoint

import dev.strata.error.TaskFailedException
import dev.strata.wait.Parker
import io.github.oshai.kotlinlogging.KotlinLogging
import java.util.concurrent.atomic.AtomicInteger
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
    spinNanos: Long,
    /** Runs each task on this endpoint's thread. */
    private val runner: TaskRunner = TaskRunner.calling(path),
    /** Closed after the thread stopped: what the tasks ran on (a nested worker, a chip in this JVM), if anything. */
    private val owned: AutoCloseable? = null,
    /** Whether a stall watchdog reads [running] and [lastProgressNanos]. */
    private val tracked: Boolean = false,
) : Endpoint {
    /** The dispatch in this endpoint's slot: handed over and not yet finished. */
    override val running: Dispatch? get() = slot.get()

    /** Refreshed only when a stall watchdog reads it ([tracked]); otherwise the start time. */
    @Volatile
    override var lastProgressNanos: Long = System.nanoTime()
        private set

    /** Refreshed only when a stall watchdog reads it ([tracked]). */
    @Volatile
    override var runningSinceNanos: Long = 0
        private set

    /** Callers of [stop] between their check of the slot and their interrupt (see [loop]). */
    private val stopping = AtomicInteger()

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
                if (tracked) {
                    val now = System.nanoTime()
                    runningSinceNanos = now
                    lastProgressNanos = now
                }
                execute(d)
                slot.set(null)
                // An interrupt meant for the finished task (a stop, or one the task left set) must not fail
                // the next task with an InterruptedException, nor turn this thread's park into a busy loop. A
                // stop that saw this task in the slot may still be about to interrupt: wait it out (the
                // volatile store above and the stopper's increment order the two; the wait is a few
                // instructions, and only ever happens when a stop races a task's end), then clear the flag.
                while (stopping.get() != 0) Thread.onSpinWait()
                Thread.interrupted()
                if (tracked) lastProgressNanos = System.nanoTime()
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
        if (d.stopRequested) { // stopped before it started: its interrupt may have been cleared with the previous task's
            d.error = InterruptedException("task #${task.id} '${task.name}' was stopped before it started")
                .let { TaskFailedException.of(path, task.id, task.name, it) }
            return
        }
        try {
            runner.run(task, d.member)
        } catch (t: Throwable) {
            d.error = TaskFailedException.of(path, task.id, task.name, t)
        }
    }

    /** Interrupts [dispatch] if this endpoint is still running it, whatever the [reason]: a thread cannot be killed. */
    override fun stop(dispatch: Dispatch, reason: StopReason) {
        dispatch.stopRequested = true
        stopping.incrementAndGet()
        try {
            if (slot.get() === dispatch) thread?.interrupt()
        } finally {
            stopping.decrementAndGet()
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
            owned?.close()
        } catch (e: Exception) {
            log.warn(e) { "$path: closing what its tasks ran on failed" }
        }
    }
}
