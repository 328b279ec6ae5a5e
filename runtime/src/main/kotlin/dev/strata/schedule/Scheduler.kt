package dev.strata.schedule

import dev.strata.endpoint.Dispatch
import dev.strata.endpoint.Endpoint
import dev.strata.graph.MemberState
import dev.strata.graph.Task
import dev.strata.graph.TaskState
import dev.strata.error.InternalStrataException
import dev.strata.graph.Run
import dev.strata.error.ProtocolException
import dev.strata.error.TaskFailedException
import dev.strata.error.WorkerDiedException
import dev.strata.task.Target
import io.github.oshai.kotlinlogging.KotlinLogging
import kotlinx.coroutines.CancellableContinuation
import kotlinx.coroutines.CoroutineName
import kotlinx.coroutines.CoroutineScope
import kotlinx.coroutines.Job
import kotlinx.coroutines.SupervisorJob
import kotlinx.coroutines.launch
import kotlinx.coroutines.suspendCancellableCoroutine
import java.util.concurrent.ConcurrentLinkedQueue
import java.util.concurrent.atomic.AtomicReference
import kotlin.coroutines.resume

private val log = KotlinLogging.logger {}

/**
 * The scheduler of one worker (DESIGN.md §5): a coroutine on its own single-thread dispatcher that
 * suspends whenever its inbox is empty (no busy-wait; the dispatcher spins briefly before parking).
 *
 * Everything it owns — ready queues, which endpoints are idle, which run executes — is touched only on
 * its thread; other threads talk to it through [post]. Next-level children have one FIFO each (a task
 * names its target); sub workers form a pool fed by one FIFO; a group task is dispatched all-or-nothing
 * when every target it needs is idle, and while it waits at the head it reserves those targets.
 * Only the oldest admitted run dispatches; tasks of the next run that become ready are held until then.
 */
internal class Scheduler(
    name: String,
    private val subs: Array<Endpoint>,
    private val nexts: Array<Endpoint>,
    spinNanos: Long,
    private val hooks: Hooks,
    /** Keep [readyCount] current (a stall watchdog reads it). */
    private val countReady: Boolean = false,
) {
    /** What the scheduler asks of its worker. */
    interface Hooks {
        /** [task]'s last reference is gone: reclaim its slot and bytes. Called from any thread. */
        fun consume(task: Task)

        /** [run] is over (every task terminal, program returned). Called on the scheduler thread. */
        fun runFinished(run: Run)
    }

    private class RunEvent(val kind: Int, val run: Run)
    private class SkipRequest(val task: Task)

    private val dispatcher = SpinParkDispatcher("strata-$name-scheduler", spinNanos)
    private val scope = CoroutineScope(dispatcher + SupervisorJob() + CoroutineName("strata-$name-scheduler"))
    private val inbox = ConcurrentLinkedQueue<Any>()
    private val waiter = AtomicReference<CancellableContinuation<Unit>?>()
    private var job: Job? = null

    @Volatile
    private var stopping = false

    // --- scheduler-thread state ----------------------------------------------------------------
    private val runs = ArrayDeque<Run>()
    private val subQueue = ArrayDeque<Task>()
    private val nextQueues = Array(nexts.size) { ArrayDeque<Task>() }
    private val groupQueue = ArrayDeque<Task>()
    private val idleSubs = IntArray(subs.size) { subs.size - 1 - it } // a stack: the last idle is reused first
    private var idleSubCount = subs.size
    private val nextBusy = BooleanArray(nexts.size)
    private val reserved = BooleanArray(nexts.size)
    private val skipWork = ArrayDeque<Task>()

    /** Tasks run through the successor hand-off (endpoint threads add to it), for tests and diagnostics. */
    val handOffs = java.util.concurrent.atomic.LongAdder()

    /** The scheduler's thread, for ownership checks. */
    val thread: Thread get() = dispatcher.thread

    fun start() {
        for (e in subs) e.start(::endpointDone)
        for (e in nexts) e.start(::endpointDone)
        job = scope.launch { loop() }
    }

    /** Sends an event to the scheduler from any thread: a ready [Task], a [Dispatch] completion, … */
    fun post(event: Any) {
        inbox.offer(event)
        val w = waiter.get()
        if (w != null && waiter.compareAndSet(w, null)) w.resume(Unit)
    }

    /**
     * Called on an endpoint's thread when [d] finished. A single task that succeeded is completed right
     * here (its monitor guards the transition, as on the scheduler thread) and its consumers are
     * released; the first consumer that became ready and can run on a sub worker is claimed for this same
     * endpoint and returned, so a chain of dependent tasks runs on one thread without a hand-off per task
     * (like a work-stealing worker's local slot). Other ready consumers go to the scheduler, which still
     * owns every queue and every idle/busy decision; so does the completion itself, unless the endpoint
     * goes on with a successor and the run is not over (then nothing the scheduler tracks has changed).
     */
    private fun endpointDone(d: Dispatch): Dispatch? {
        val t = d.task
        if (d.error != null || t.isGroup) {
            post(d)
            return null
        }
        val consumers: ArrayList<Task>?
        synchronized(t) {
            t.state = TaskState.COMPLETED
            consumers = t.fanout
            t.fanout = null
        }
        d.fanoutDone = true
        var next: Dispatch? = null
        if (consumers != null) {
            for (c in consumers) {
                if (!c.releaseFanin()) continue
                if (next == null && d.endpoint.acceptsSub(c) && claim(c)) {
                    next = Dispatch(c, 0, d.endpoint)
                    handOffs.increment()
                } else {
                    post(c) // ready: the scheduler queues it (or skips it)
                }
            }
        }
        d.chained = next
        // What the task held goes back here too (atomic counts; consume() is thread-safe). If this was the
        // run's last task, its handle completes now: the caller does not wait for the scheduler's
        // bookkeeping (run order, admission), which follows when the scheduler reads this completion.
        releaseHeld(t)
        val run = t.run
        d.finishedRun = run.arrive()
        if (next != null && !d.finishedRun) {
            // The endpoint stays busy and nothing else changed: the scheduler need not hear of it at all.
            // (Member states are written after the dispatch that ran [t]; [Task.membersTerminal] is left alone:
            // the scheduler may still be reading it in launch(), and nobody reads it once the task is complete.)
            t.memberStates[0] = MemberState.SUCCEEDED
            next.task.memberStates[0] = MemberState.RUNNING
            return next
        }
        post(d) // the scheduler's bookkeeping starts first; completing a handle twice is harmless
        if (d.finishedRun) run.complete()
        return next
    }

    /** A consumer that can chain onto a sub worker: a single sub task. */
    private fun Endpoint.acceptsSub(c: Task): Boolean =
        subs.getOrNull(index) === this && !c.isGroup && c.targets[0] is Target.Sub

    /** Claims a ready consumer for direct execution unless it was skipped or its run failed. */
    private fun claim(c: Task): Boolean = synchronized(c) {
        if (c.state == TaskState.PENDING && !c.run.failed) {
            c.state = TaskState.RUNNING
            true
        } else {
            false
        }
    }

    /** Tasks queued ready for dispatch, refreshed by the scheduler loop (read by the stall watchdog). */
    @Volatile
    var readyCount: Int = 0
        private set

    /**
     * Ends [run] now with its first error (the stall watchdog's verdict): what has not started is skipped,
     * its handle completes, and the next run may dispatch. Tasks still running finish (or not) on their own.
     */
    fun abandon(run: Run) = post(RunEvent(ABANDONED, run))

    fun admit(run: Run) = post(RunEvent(ADMITTED, run))
    fun runFailed(run: Run) = post(RunEvent(FAILED, run))
    fun runArrived(run: Run) = post(RunEvent(FINISHED, run))
    fun skipPoisoned(task: Task) = post(SkipRequest(task))

    /** Stops the scheduler loop; waits at most [timeoutMillis]. Endpoints are closed by the caller. */
    fun stop(timeoutMillis: Long) {
        stopping = true
        post(STOP)
        dispatcher.close(timeoutMillis)
    }

    private suspend fun loop() {
        while (!stopping) {
            var event = inbox.poll()
            while (event != null) {
                handleSafely(event)
                if (stopping) return
                event = inbox.poll()
            }
            try {
                dispatchReady()
            } catch (t: Throwable) {
                internalFailure(t)
            }
            if (countReady) readyCount = subQueue.size + groupQueue.size + nextQueues.sumOf { it.size }
            if (inbox.isEmpty()) awaitEvent()
        }
    }

    private suspend fun awaitEvent() {
        suspendCancellableCoroutine { c ->
            waiter.set(c)
            // An event posted before we registered must not be missed.
            if (!inbox.isEmpty() && waiter.compareAndSet(c, null)) c.resume(Unit)
        }
    }

    private fun handleSafely(event: Any) {
        try {
            when (event) {
                is Dispatch -> completed(event)
                is Task -> makeReady(event)
                is RunEvent -> when (event.kind) {
                    ADMITTED -> runs.addLast(event.run)
                    FINISHED -> finishRun(event.run)
                    FAILED -> purgeHeld(event.run)
                    ABANDONED -> {
                        purgeHeld(event.run)
                        if (event.run in runs) finishRun(event.run)
                    }
                }
                is SkipRequest -> skip(event.task)
                STOP -> stopping = true
            }
        } catch (t: Throwable) {
            internalFailure(t)
        }
    }

    // --- readiness ------------------------------------------------------------------------------

    /** [t]'s last producer (or its build guard) is gone. */
    private fun makeReady(t: Task) {
        if (t.state != TaskState.PENDING) return // skipped meanwhile
        val run = t.run
        if (run.failed) return skip(t)
        if (runs.firstOrNull() !== run) {
            run.held += t
            return
        }
        t.state = TaskState.READY
        val target = t.targets[0]
        when {
            target is Target.Sub -> subQueue.addLast(t)
            t.isGroup -> groupQueue.addLast(t)
            else -> nextQueues[(target as Target.Next).index].addLast(t)
        }
    }

    // --- dispatch -------------------------------------------------------------------------------

    private fun dispatchReady() {
        if (nexts.isNotEmpty()) dispatchNext()
        while (true) {
            val t = liveHead(subQueue) ?: break
            if (idleSubCount < t.members.size) break // the head waits for enough idle sub workers
            subQueue.removeFirst()
            launch(t)
        }
    }

    private fun dispatchNext() {
        reserved.fill(false)
        while (true) {
            val g = liveHead(groupQueue) ?: break
            if (g.targets.all { !nextBusy[(it as Target.Next).index] }) {
                groupQueue.removeFirst()
                launch(g)
            } else {
                for (tg in g.targets) reserved[(tg as Target.Next).index] = true
                break
            }
        }
        for (w in nexts.indices) {
            val q = nextQueues[w]
            val t = liveHead(q) ?: continue
            if (nextBusy[w] || reserved[w]) continue
            q.removeFirst()
            launch(t)
        }
    }

    /** The first task of [q] that should still run; skips the ones of failed runs on the way. */
    private fun liveHead(q: ArrayDeque<Task>): Task? {
        while (q.isNotEmpty()) {
            val t = q.first()
            if (t.state != TaskState.READY) {
                q.removeFirst()
                continue
            }
            if (t.run.failed) {
                q.removeFirst()
                skip(t)
                continue
            }
            return t
        }
        return null
    }

    private fun launch(t: Task) {
        t.state = TaskState.RUNNING
        var dispatchFailed = false
        for (m in t.members.indices) {
            if (dispatchFailed) { // all-or-nothing broke: the rest never start
                t.memberStates[m] = MemberState.SKIPPED
                t.membersTerminal++
                continue
            }
            val target = t.targets[m]
            val sub = target is Target.Sub
            val ep = if (sub) subs[idleSubs[--idleSubCount]] else nexts[(target as Target.Next).index].also { nextBusy[it.index] = true }
            t.memberStates[m] = MemberState.RUNNING
            try {
                ep.dispatch(Dispatch(t, m, ep))
            } catch (e: Throwable) {
                markIdle(ep, sub)
                dispatchFailed = true
                // A dead or broken child says so itself (WorkerDiedException, ProtocolException); anything else
                // is wrapped with the endpoint's path and the task.
                val error = if (e is WorkerDiedException || e is ProtocolException) e else TaskFailedException.of(ep.path, t.id, t.name, e)
                memberFailed(t, m, error)
                t.membersTerminal++
            }
        }
        if (t.membersTerminal == t.members.size) finishTask(t)
    }

    private fun markIdle(ep: Endpoint, sub: Boolean) {
        if (sub) idleSubs[idleSubCount++] = ep.index else nextBusy[ep.index] = false
    }

    // --- completion -----------------------------------------------------------------------------

    private fun completed(d: Dispatch) {
        val t = d.task
        val chained = d.chained
        if (chained == null) {
            markIdle(d.endpoint, t.targets[d.member] is Target.Sub)
        } else {
            chained.task.memberStates[0] = MemberState.RUNNING // the endpoint stays busy with it
        }
        if (d.fanoutDone) { // completed on the endpoint's thread: consumers and references already released
            t.memberStates[d.member] = MemberState.SUCCEEDED
            t.membersTerminal = 1
            if (d.finishedRun) finishRun(t.run)
            return
        }
        val error = d.error
        if (error == null) t.memberStates[d.member] = MemberState.SUCCEEDED else memberFailed(t, d.member, error)
        if (++t.membersTerminal == t.members.size) finishTask(t)
    }

    private fun memberFailed(t: Task, member: Int, error: Throwable) {
        t.memberStates[member] = MemberState.FAILED
        if (t.firstFailure == null) t.firstFailure = error
        failRun(t.run, error) // at once, even while other members still run
    }

    private fun finishTask(t: Task) {
        val error = t.firstFailure
        val consumers: ArrayList<Task>?
        synchronized(t) {
            t.state = if (error == null) TaskState.COMPLETED else TaskState.FAILED
            consumers = t.fanout
            t.fanout = null
        }
        if (consumers != null) {
            if (error == null) {
                for (c in consumers) if (c.releaseFanin()) makeReady(c)
            } else {
                for (c in consumers) skip(c)
            }
        }
        afterTerminal(t)
    }

    /** Marks [task] and everything waiting on it SKIPPED (iteratively: chains may be long). */
    private fun skip(task: Task) {
        skipWork.addLast(task)
        while (skipWork.isNotEmpty()) {
            val x = skipWork.removeFirst()
            var consumers: ArrayList<Task>? = null
            var skipped = false
            synchronized(x) {
                when (x.state) {
                    TaskState.BUILDING -> x.poisoned = true // its submitter skips it when publishing
                    TaskState.PENDING, TaskState.READY -> {
                        x.state = TaskState.SKIPPED
                        consumers = x.fanout
                        x.fanout = null
                        skipped = true
                    }
                    else -> Unit // running or terminal: it finishes on its own
                }
            }
            if (!skipped) continue
            for (m in x.memberStates.indices) x.memberStates[m] = MemberState.SKIPPED
            x.membersTerminal = x.members.size
            consumers?.let { skipWork.addAll(it) }
            afterTerminal(x)
        }
    }

    private fun afterTerminal(t: Task) {
        releaseHeld(t)
        if (t.run.arrive()) finishRun(t.run)
    }

    /** Releases the references [t] held on its producers and on itself. Thread-safe. */
    private fun releaseHeld(t: Task) {
        t.producers?.let { ps ->
            for (p in ps) if (p.release()) hooks.consume(p)
        }
        t.producers = null
        if (t.release()) hooks.consume(t)
    }

    // --- runs -----------------------------------------------------------------------------------

    private fun failRun(run: Run, error: Throwable) {
        run.fail(error)
        purgeHeld(run)
    }

    private fun purgeHeld(run: Run) {
        if (run.failed) while (true) skip(run.gates.poll() ?: break) // gates nobody will open now
        if (run.held.isEmpty()) return
        val held = ArrayList(run.held)
        run.held.clear()
        for (t in held) skip(t)
    }

    private fun finishRun(run: Run) {
        val wasHead = runs.firstOrNull() === run
        runs.remove(run)
        hooks.runFinished(run)
        if (wasHead) {
            val next = runs.firstOrNull() ?: return
            val held = ArrayList(next.held)
            next.held.clear()
            for (t in held) makeReady(t)
        }
    }

    /** A bug in the scheduler must not hang anyone: fail every admitted run with it. */
    private fun internalFailure(t: Throwable) {
        log.error(t) { "scheduler invariant broken; failing all admitted runs" }
        val error = InternalStrataException("the scheduler failed: $t", t)
        for (run in runs.toList()) {
            run.fail(error)
            runs.remove(run)
            hooks.runFinished(run)
        }
    }

    private companion object {
        const val ADMITTED = 0
        const val FINISHED = 1
        const val FAILED = 2
        const val ABANDONED = 3
        val STOP = Any()
    }
}
