package dev.strata.endpoint

import dev.strata.error.TaskFailedException
import dev.strata.wait.Parker
import dev.strata.wait.SpinPark
import io.github.oshai.kotlinlogging.KotlinLogging
import java.util.concurrent.ScheduledThreadPoolExecutor
import java.util.concurrent.TimeUnit
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
    private val spinNanos: Long,
    /** Runs each task on this endpoint's thread. */
    private val runner: TaskRunner = TaskRunner.calling(path),
    /** Closed after the thread stopped: what the tasks ran on (a nested worker, a chip in this JVM), if anything. */
    private val owned: AutoCloseable? = null,
    /** Whether a stall watchdog reads [running] and [lastProgressNanos]. */
    private val tracked: Boolean = false,
    /** How long a task declared stalled may ignore its interrupt before its thread is given up (see [stop]). */
    private val stuckGraceMillis: Long = 1_000,
    /** How long a task whose run was cancelled may ignore its interrupt before its thread is given up. */
    private val cancelGraceMillis: Long = 10_000,
) : Endpoint {
    /**
     * The dispatch in this endpoint's slot: handed over and not yet finished — or, while a given-up thread's
     * task is being handed to a fresh thread ([abandon]), that task: the worker is not idle until the
     * fresh thread reported it (a watchdog must not see a free core with work ready in that gap).
     */
    override val running: Dispatch? get() = slot.get() ?: recovering

    /** The abandoned task a fresh thread is about to report; null otherwise. */
    @Volatile
    private var recovering: Dispatch? = null

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

    /** How many threads this worker has given up on (tasks that ignored their stall verdict). */
    @Volatile
    private var abandoned = 0

    /** The scheduler's steps this worker takes while it spins idle; null: it only waits for its own work. */
    private var help: IdleHelp? = null

    override fun helpWhileIdle(help: IdleHelp) {
        this.help = help
    }

    override fun start(onDone: (Dispatch) -> Dispatch?) {
        this.onDone = onDone
        thread = newThread(null)
    }

    /** This worker's thread; it first reports [first] (a dispatch taken from an abandoned thread), if any. */
    private fun newThread(first: Dispatch?): Thread =
        Thread({ loop(first) }, "strata-${path.replace(' ', '-')}" + if (abandoned > 0) "-$abandoned" else "").apply {
            isDaemon = true
            start()
        }

    override fun ownsCurrentThread(): Boolean = thread === Thread.currentThread()

    override fun dispatch(dispatch: Dispatch) {
        check(!closed) { "$path is closed" }
        check(slot.compareAndSet(null, dispatch)) { "$path is busy: the scheduler dispatched to a busy worker" }
        parker.unpark()
    }

    private fun loop(first: Dispatch?) {
        var pending = first
        while (true) {
            var d: Dispatch?
            if (pending != null) {
                d = complete(pending)
                recovering = null // reported: the scheduler knows this worker is free (or handed it a successor)
                pending = null
                if (d != null) slot.set(d)
            } else {
                awaitWork()
                d = slot.get() ?: if (closed) break else continue // a step taken for the scheduler, or closed
            }
            while (d != null) {
                if (tracked) {
                    val now = System.nanoTime()
                    runningSinceNanos = now
                    lastProgressNanos = now
                }
                execute(d)
                // The finished task leaves the slot, unless [abandon] took it first: this thread was given up
                // (its task ignored a stall verdict) and a fresh one reported the task and serves the worker.
                if (!slot.compareAndSet(d, null)) return
                // An interrupt meant for the finished task (a stop, or one the task left set) must not fail
                // the next task with an InterruptedException, nor turn this thread's park into a busy loop. A
                // stop that saw this task in the slot may still be about to interrupt: wait it out (the
                // slot's update above and the stopper's increment order the two; the wait is a few
                // instructions, and only ever happens when a stop races a task's end), then clear the flag.
                while (stopping.get() != 0) Thread.onSpinWait()
                Thread.interrupted()
                if (tracked) lastProgressNanos = System.nanoTime()
                d = complete(d)
                if (d != null) slot.set(d)
            }
        }
    }

    /**
     * Waits until a dispatch is in the slot or the endpoint closed: [Parker]'s spin, then park. A helping
     * worker ([help]) takes, during its spin, the scheduling steps queued for it (a step usually fills its
     * own slot); the park's wake-up is a dispatch or the close.
     */
    private fun awaitWork() {
        val h = help ?: return parker.await(ready = { slot.get() != null }, stop = { closed })
        // One spin budget for the whole wait, however many steps it takes: a step that handed this worker
        // nothing (another thread holds the token and will take it) must not restart the spin, or a worker
        // would spin on while that holder waits for a core.
        h.enter()
        var helping = true
        val delay = StepDelay(h)
        val woke = SpinPark.spin(spinNanos, { n ->
            if (delay.due()) {
                h.leave(index) // takes the waiting step, if it can
                helping = slot.get() == null && !closed
                if (helping) h.enter()
            }
            SpinPark.spinThenYield(n)
        }) { slot.get() != null || closed }
        if (helping) h.leave(index)
        if (!woke) while (slot.get() == null && !closed) parker.parkOnce(ready = { slot.get() != null }, stop = { closed })
    }

    /** Reports [d]'s completion; returns a successor to run next on this thread, if the scheduler hands one back. */
    private fun complete(d: Dispatch): Dispatch? = try {
        onDone(d) // may hand back a successor to run right here
    } catch (t: Throwable) {
        log.error(t) { "$path could not report the completion of ${d.task}" }
        null
    }

    private fun execute(d: Dispatch) {
        val task = d.task
        if (d.stopRequested) { // stopped before it started: its interrupt may have been cleared with the previous task's
            d.error = InterruptedException("task #${task.id} '${task.name}' was stopped before it started")
                .let { TaskFailedException.of(path, task.id, task.name, it) }
            return
        }
        if (task.times != null) d.startedNanos = System.nanoTime()
        try {
            runner.run(task, d.member)
        } catch (t: DispatchFailure) {
            d.error = t.error
        } catch (t: Throwable) {
            d.error = TaskFailedException.of(path, task.id, task.name, t)
        }
    }

    /**
     * Interrupts [dispatch] if this endpoint is still running it. A thread cannot be killed: a task that
     * ignores the interrupt for its grace ([stuckGraceMillis] after a stall verdict, [cancelGraceMillis]
     * after a cancel) is given up — [onStuck] runs if set (a chip JVM ends itself), else [abandon] moves the
     * worker to a fresh thread and leaves the old one running the task until it returns (it can never
     * report it).
     */
    override fun stop(dispatch: Dispatch, reason: StopReason) {
        dispatch.stopRequested = true
        stopping.incrementAndGet()
        try {
            if (slot.get() === dispatch) thread?.interrupt()
        } finally {
            stopping.decrementAndGet()
        }
        val grace = if (reason == StopReason.STALLED) stuckGraceMillis else cancelGraceMillis
        TIMER.schedule({
            if (slot.get() === dispatch && !closed) {
                val hook = onStuck
                if (hook != null) hook(path, dispatch) else abandon(dispatch, grace)
            }
        }, grace, TimeUnit.MILLISECONDS)
    }

    /** Gives up the thread running [d] (it ignored its interrupt): [d] fails, a fresh thread reports it and serves on. */
    private fun abandon(d: Dispatch, graceMillis: Long) {
        recovering = d // before the slot empties: the worker stays busy until the fresh thread reported d
        if (!slot.compareAndSet(d, null)) { // it finished after all
            recovering = null
            return
        }
        val old = thread
        abandoned++
        log.error {
            "$path: task #${d.task.id} '${d.task.name}' ignored its interrupt (a stall verdict or a cancel) for $graceMillis ms; " +
                "its thread '${old?.name}' is abandoned (a JVM thread cannot be killed: it runs on until the task returns) " +
                "and $path continues on a fresh thread"
        }
        d.error = TaskFailedException.of(
            path, d.task.id, d.task.name,
            IllegalStateException("it ignored its interrupt for $graceMillis ms; its thread '${old?.name}' was abandoned (a JVM thread cannot be killed)"),
        )
        thread = newThread(d)
    }

    internal companion object {
        /**
         * Set in a chip's child JVM: what to do with a task that ignored its stall verdict instead of
         * abandoning its thread (end the JVM, so the parent reports the chip dead and no core keeps burning).
         */
        @Volatile
        var onStuck: ((path: String, dispatch: Dispatch) -> Unit)? = null

        private val TIMER = ScheduledThreadPoolExecutor(1) { r -> Thread(r, "strata-stuck-tasks").apply { isDaemon = true } }.apply {
            removeOnCancelPolicy = true
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
        if (abandoned > 0) {
            log.warn { "$path: $abandoned thread(s) given up earlier may still run their tasks (daemon threads; a JVM thread cannot be killed)" }
        }
        try {
            owned?.close()
        } catch (e: Exception) {
            log.warn(e) { "$path: closing what its tasks ran on failed" }
        }
    }
}
