package dev.strata.worker

import dev.strata.remote.Residency
import dev.strata.endpoint.Dispatch
import dev.strata.endpoint.Endpoint
import dev.strata.endpoint.StopReason
import dev.strata.process.ProcessEndpoint
import dev.strata.error.SchedulerStallException
import dev.strata.error.WorkerClosedException
import dev.strata.graph.Run
import dev.strata.graph.Task
import dev.strata.graph.HeapRings
import dev.strata.graph.TaskWindow
import dev.strata.run.CallableAdmission
import dev.strata.run.SubmitValidation
import dev.strata.run.RunBuilder
import dev.strata.run.RunHandle
import dev.strata.run.RunStats
import dev.strata.trace.WorkerTrace
import dev.strata.schedule.Scheduler
import dev.strata.schedule.StallWatchdog
import dev.strata.task.Orchestrator
import io.github.oshai.kotlinlogging.KotlinLogging
import kotlinx.coroutines.runBlocking
import java.util.concurrent.ConcurrentHashMap
import java.util.concurrent.Semaphore
import java.util.concurrent.TimeUnit
import java.util.concurrent.atomic.AtomicBoolean
import java.util.concurrent.atomic.AtomicLong
import java.util.concurrent.locks.ReentrantLock
import kotlin.concurrent.withLock

private val log = KotlinLogging.logger {}

/**
 * How a worker admits and finishes runs (DESIGN.md §4): at most [RUNS_IN_FLIGHT] runs at once (the next
 * builds while the current one executes; a third `submit` blocks), one program building at a time, no
 * run started from inside one of the worker's own tasks or programs. It owns the worker's [Scheduler]
 * (and answers its [Scheduler.Hooks]) and, for a worker with a stall budget, its [StallWatchdog].
 *
 * A run ends through one path, [runFinished] in a scheduling step (or in [close], once the scheduler
 * stopped): its handle completes (a no-op when the thread that finished its last task completed it
 * first, which is the fast path) and its admission permit is returned.
 */
internal class RunAdmission(
    private val config: WorkerConfig,
    private val children: WorkerChildren,
    private val window: TaskWindow,
    heapRings: HeapRings,
    validation: SubmitValidation,
    callables: CallableAdmission,
    tracked: Boolean,
    /** The worker's part of a timeline trace, when it records one. */
    private val trace: WorkerTrace? = null,
) : Scheduler.Hooks {
    private val spinNanos = config.spin.inWholeNanoseconds
    private val closed = AtomicBoolean(false)
    private val runIds = AtomicLong()
    private val admission = Semaphore(RUNS_IN_FLIGHT)
    private val buildLock = ReentrantLock()
    private val activeRuns = ConcurrentHashMap.newKeySet<Run>()

    /** True once [close] began. */
    val isClosed: Boolean get() = closed.get()

    /** The worker's task numbers, shared by its runs' builders. */
    private val taskIds = AtomicLong()

    val scheduler = Scheduler(config.name, children.scheduledSubs, children.scheduledNexts, this, countReady = tracked, trace = trace, taskIds = taskIds)
        .also { it.start() }

    /** What every run's builder is given: it talks to the window, the rings and this scheduler directly. */
    private val parts = RunBuilder.Parts(window, heapRings, scheduler, validation, callables, taskIds)

    /** The stall watchdog over the worker's children (a chip's cores; a host's sub workers and next-level children, on threads or in child JVMs). */
    private val watchdog: StallWatchdog? = if (!tracked) null else StallWatchdog(
        config.name, config.stallTimeout!!, (children.scheduledSubs + children.scheduledNexts).toList(),
        object : StallWatchdog.Hooks {
            override fun headRun(): Run? = activeRuns.minByOrNull { it.id }
            override fun submitted(): Long = parts.taskIds.get()
            override fun readyCount(): Int = scheduler.readyCount
            override fun declare(run: Run, error: SchedulerStallException, stuck: Pair<Endpoint, Dispatch>?) =
                declareStall(run, error, stuck)
        },
        if (config.level == 2) "ChipConfig.stallTimeout or STRATA_SCHEDULER_TIMEOUT_MS" else "WorkerConfig.stallTimeout of ${config.name}",
    )

    /**
     * The watchdog's verdict: the run fails now; a stuck core is stopped (a thread interrupted, a child JVM
     * killed and replaced), a starved program interrupted.
     */
    private fun declareStall(run: Run, error: SchedulerStallException, stuck: Pair<Endpoint, Dispatch>?) {
        log.error { error.message }
        run.fail(error)
        stuck?.let { (ep, d) -> ep.stop(d, StopReason.STALLED) }
        synchronized(run) { if (run.building) run.builder?.interrupt() }
        scheduler.abandon(run)
    }

    /** [run] was cancelled: its tasks that are running now are stopped (interrupted; a child JVM that ignores it is killed and replaced). */
    private fun stopRunning(run: Run) {
        for (ep in children.scheduledSubs + children.scheduledNexts) ep.running?.let { d -> if (d.task.run === run) ep.stop(d, StopReason.CANCELLED) }
    }

    /**
     * Waits until every run admitted before this call finished, at most [timeoutNanos]; returns the runs
     * still unfinished then (empty when all finished).
     */
    fun awaitAdmitted(timeoutNanos: Long): List<Run> {
        val deadline = System.nanoTime() + timeoutNanos
        val runs = activeRuns.toList()
        for (r in runs) runCatching { r.done.get(maxOf(0, deadline - System.nanoTime()), TimeUnit.NANOSECONDS) }
        return runs.filter { !it.done.isDone }
    }

    /** Admits a run of [program] and builds it on the calling thread (see `Worker.submit`). */
    fun submit(program: suspend Orchestrator.() -> Unit): RunHandle = admit { builder -> builder.program() }

    /** Admits a run and builds it with [build]; returns once the build returned, while tasks may still run. */
    fun admit(build: suspend (RunBuilder) -> Unit): RunHandle {
        if (closed.get()) throw WorkerClosedException(config.name)
        check(!buildLock.isHeldByCurrentThread) {
            "a run's program started another run on the same worker (${config.name}); submit tasks instead, " +
                "or run the nested program on a next-level worker"
        }
        children.endpointOfCurrentThread()?.let { ep ->
            throw IllegalStateException(
                "a task running on ${ep.path} started a run on its own worker (${config.name}); that run would wait " +
                    "behind the run the task belongs to. Submit the work from the program instead, or run it on a " +
                    "next-level worker (ctx.worker)",
            )
        }
        admission.acquire()
        if (closed.get()) {
            admission.release()
            throw WorkerClosedException(config.name)
        }
        return buildLock.withLock {
            val run = Run(runIds.incrementAndGet()) { cancelled -> scheduler.runFailed(cancelled); stopRunning(cancelled) }
            val handle = RunHandle(run, spinNanos)
            trace?.let { t ->
                run.trace = t
                t.runBegan(run.id, run.startNanos)
            }
            children.processes?.let { p ->
                run.helper = p::pollAll // the waiter reads mailboxes itself
                // A failed run can end only when its running tasks do: a child JVM frozen in one (SIGSTOP in a
                // collective whose peers already failed) is killed once its heartbeat shows it (issue 13 §3).
                run.onFailed = { failed -> ProcessEndpoint.killFrozen(p.endpoints, { d -> d.task.run === failed }, { failed.done.isDone }) }
            }
            activeRuns += run
            watchdog?.arm()
            scheduler.admit(run)
            val builder = RunBuilder(run, parts)
            run.builder = Thread.currentThread()
            try {
                runBlocking { build(builder) }
            } catch (e: Throwable) {
                // The program itself failed: skip what has not started, let running tasks finish, rethrow.
                endBuilding(run)
                run.fail(e)
                scheduler.runFailed(run)
                builder.closeBuild()
                handle.join()
                val stall = run.firstError.get() as? SchedulerStallException
                if (stall != null && stall !== e) { // the watchdog interrupted a starved program: its verdict is the error
                    stall.addSuppressed(e)
                    throw stall
                }
                throw e
            }
            endBuilding(run)
            builder.closeBuild()
            handle
        }
    }

    /** The program's thread stops being [run]'s builder; an interrupt the watchdog sent it is cleared. */
    private fun endBuilding(run: Run) {
        synchronized(run) { run.builder = null }
        if (run.firstError.get() is SchedulerStallException) Thread.interrupted()
    }

    override fun consume(task: Task) {
        // An allocation's bytes go back to its ring: what a node held of them is dropped unread first.
        children.residency?.let { r -> task.allocBuffer?.let { r.discard(it.id) } }
        window.consume(task)
    }

    /**
     * [run] is over: its handle completes and its admission permit comes back, exactly once. When remote
     * nodes still hold results, they are fetched into the caller's tensors first (asynchronously: the
     * finishing thread never waits on a network), so a completed handle means the tensors are current.
     */
    override fun runFinished(run: Run) {
        if (!run.markFinished()) return // the finishing thread, the scheduler and close() may all get here
        run.building = false
        val residency = children.residency
        if (residency == null || residency.isEmpty) return finished(run)
        residency.syncAll("the end of run #${run.id}").whenComplete { _, e ->
            if (e != null) run.fail(Residency.unwrap(e))
            finished(run)
        }
    }

    private fun finished(run: Run) {
        run.complete() // first: on the fast path the caller is spinning on it
        trace?.runEnded(run.id, run.endNanos, runEndArgs(run))
        activeRuns -= run // the watchdog stops its checks itself once it finds no run in flight
        admission.release()
    }

    /**
     * Refuses new runs and ends the ones in flight: waits up to `closeTimeout` for them, then cancels them
     * and waits as long again; stops the watchdog and the scheduler; ends whatever the stopped scheduler
     * can no longer finish (a cancelled run keeps its `RunCancelledException`, others fail with
     * `WorkerClosedException`), so nobody waits forever on a handle. Returns false if already closed.
     */
    fun close(): Boolean {
        if (!closed.compareAndSet(false, true)) return false
        val timeoutMs = config.closeTimeout.inWholeMilliseconds
        if (!admission.tryAcquire(RUNS_IN_FLIGHT, timeoutMs, TimeUnit.MILLISECONDS)) {
            log.warn { "${config.name}: runs still in flight after ${config.closeTimeout}; cancelling them" }
            for (r in activeRuns) r.cancel()
            if (!admission.tryAcquire(RUNS_IN_FLIGHT, timeoutMs, TimeUnit.MILLISECONDS)) {
                log.warn { "${config.name}: tasks still running after cancellation; closing anyway" }
            }
        }
        watchdog?.close()
        scheduler.stop(1_000)
        for (r in activeRuns.toList()) {
            r.fail(WorkerClosedException(config.name))
            runFinished(r)
        }
        return true
    }

    /** Wakes anyone still blocked in admission (after the children closed): they see the worker closed. */
    fun releaseWaiters() {
        admission.release(RUNS_IN_FLIGHT * 4)
    }

    /** What a run's end event in a trace says: its statistics and, after a failure, its error. */
    private fun runEndArgs(run: Run): Map<String, Any> = buildMap {
        val stats = RunStats.of(run)
        put("tasks", stats.tasks)
        put("completed", stats.completed)
        put("failed", stats.failed)
        put("skipped", stats.skipped)
        put("back_pressure_ms", stats.backPressureTime.inWholeMicroseconds / 1_000.0)
        run.firstError.get()?.let { put("error", it.message ?: it.toString()) }
    }

    private companion object {
        const val RUNS_IN_FLIGHT = 2
    }
}
