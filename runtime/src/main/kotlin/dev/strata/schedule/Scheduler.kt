package dev.strata.schedule

import dev.strata.endpoint.Dispatch
import dev.strata.endpoint.Endpoint
import dev.strata.graph.MemberState
import dev.strata.graph.Task
import dev.strata.graph.TaskState
import dev.strata.error.InternalStrataException
import dev.strata.graph.Run
import dev.strata.run.ReadyQueue
import dev.strata.error.ProtocolException
import dev.strata.error.TaskFailedException
import dev.strata.error.WorkerDiedException
import dev.strata.task.Target
import dev.strata.trace.WorkerTrace
import io.github.oshai.kotlinlogging.KotlinLogging
import java.util.concurrent.ConcurrentLinkedQueue
import java.util.concurrent.atomic.AtomicBoolean
import java.util.concurrent.atomic.AtomicInteger
import java.util.concurrent.atomic.AtomicLong
import dev.strata.endpoint.IdleHelp

private val log = KotlinLogging.logger {}

/**
 * The scheduler of one worker (DESIGN.md §5).
 *
 * ## Structural overview
 *
 * The scheduler has no thread of its own. Its state is owned by whichever thread holds its token
 * ([stepping]); a thread that posts an event takes the token if it is free and handles every event in the
 * inbox itself, then dispatches (a *combining* scheduler: the step is taken by whoever has work for it). It
 * drives the worker's endpoints: a pool of sub workers ([subs]) and the directed next-level children
 * ([nexts]). The threads that post:
 *
 * - the **program's thread** admits a run, then posts ready tasks, poisoned tasks and the end of the build
 *   ([ReadyQueue]): a ready task goes to an idle sub worker from the program's own thread, with no
 *   scheduler thread in between;
 * - **endpoint threads** (a `ThreadEndpoint`'s own thread, the reactor thread of child JVMs, or a waiter
 *   polling their mailboxes) report each finished dispatch through [endpointDone], which runs *on that
 *   thread*; the step it takes marks the worker idle and hands it the next queued task, so a busy worker
 *   takes ready work itself;
 * - a canceller, the stall watchdog and `close` post rarer events.
 *
 * An idle worker therefore has no scheduler thread to spin or park at all, and a hot path has no more
 * threads than the program and the workers it runs on (issue 17; the measurement is in
 * docs/performance.md).
 *
 * ## Who owns what
 *
 * Touched only by the token's holder: [runs] (admitted runs in order), the ready queues ([subQueue],
 * [nextQueues]), [idleSubs] / [nextBusy], a task's READY and RUNNING
 * transitions, its member states and [Task.membersTerminal] (but see the hand-off below), and each run's
 * held tasks. The token's CAS and release order one holder's writes before the next holder's reads. Other
 * threads reach that state only through [post], which hands over a [SchedulerEvent]: the inbox queue's
 * offer/poll is the happens-before edge for everything the event carries (a [Dispatch]'s plain
 * fields `error`, `fanoutDone`, `chained` and `finishedRun` are written by the endpoint thread before it
 * posts and read by the holder after it polls). Terminal transitions and fan-out are the task's own
 * ([Task.complete], [Task.skip], …: the state under its monitor, the consumer list lock-free), so an
 * endpoint thread may make them too.
 *
 * A post never blocks and never runs a step re-entrantly: a thread that finds the token taken (by another
 * thread, or by itself further up its stack) only queues its event, and the holder handles it before it
 * leaves ([drive]).
 *
 * ## Idle workers take the step
 *
 * A task the program makes ready is a step the program would have to take, slowing its build. While a sub
 * worker spins idle ([IdleHelp]: it counts itself in [helpers] and watches the inbox) or is finishing a
 * task ([endpointDone] counts it until its own step), [ready] only queues the event: that worker takes the
 * step and, being [preferredSub], gets the task itself. Without such a worker the poster takes the step
 * (a parked worker is woken by the dispatch). Neither side can miss the other: the poster queues, then reads
 * [helpers]; a helper leaves [helpers], then reads the inbox (all volatile: Dekker's argument of
 * [dev.strata.wait.SpinPark]).
 *
 * A spinning helper does not take such a step the moment it sees it when the task belongs to a program
 * still building ([dev.strata.endpoint.StepDelay]): it waits until the program stopped submitting for 2 µs,
 * and at most 10 µs, so that the next tasks are attached behind it and run through the successor hand-off,
 * many per step (a program that ended its build is not waited for). Its spin budget bounds the wait too: a
 * helper that stops spinning takes the queued step as it leaves.
 *
 * A worker's own completion step handles its completion directly when the token is free (it does not go
 * through the inbox: [completedStep]).
 *
 * ## Scheduling policy
 *
 * Sub tasks form one FIFO served by any idle sub worker (the most recently idle first, for its warm
 * caches); each next-level child has its own FIFO (a task names its target). A group task of next-level
 * members takes a place in the FIFO of each of its targets and is dispatched all-or-nothing once it
 * heads every one of them and they are all idle: it never overtakes a task queued before it on one of its
 * targets, and while it waits at the head of a FIFO, later tasks there wait behind it (so it cannot starve). Only the oldest admitted run dispatches:
 * tasks of the next run that become ready are held until it is the head.
 *
 * ## The successor hand-off
 *
 * When a single sub task succeeds, [endpointDone] completes it on the endpoint's thread and releases its
 * consumers there. The first consumer whose fan-in reached zero *through this completion* — and only
 * such a consumer: its last producer is the task this endpoint just finished, so no other thread can
 * be making it ready — is claimed ([Task.claim]: PENDING → RUNNING, unless it was skipped or its run
 * failed) and returned, and the endpoint runs it next on the same thread: a chain of dependent tasks runs
 * without a hand-off per task (the single-slot LIFO of kotlinx.coroutines' `CoroutineScheduler`). Other
 * ready consumers are posted. If the endpoint goes on with a successor and the run is not over, nothing
 * the scheduler tracks has changed and it is not told at all; the endpoint writes the two member states
 * itself, ordered after the dispatch that ran the task (nobody else reads them while it is running).
 *
 * ## How a run finishes
 *
 * `Run.pending` counts the build (1) plus every task not yet terminal; whoever takes it to zero finishes
 * the run through one path, the [Hooks.runFinished] hook, which completes the run's handle and returns
 * its admission permit exactly once: on an endpoint's thread that is the fast path (the caller's
 * `result()` returns without waiting for the scheduler's bookkeeping). That bookkeeping follows in the
 * next step that reads the completion — the run leaves [runs] and the next run's held tasks become
 * ready — and its call of the hook is then a no-op. A scheduler failure fails every admitted run rather than
 * hang anyone ([internalFailure]).
 */
internal class Scheduler(
    private val name: String,
    private val subs: Array<Endpoint>,
    private val nexts: Array<Endpoint>,
    private val hooks: Hooks,
    /** Keep [readyCount] current (a stall watchdog reads it). */
    private val countReady: Boolean = false,
    /** The worker's timeline recorder when it traces: the scheduler adds the ready-queue depth to it. */
    private val trace: WorkerTrace? = null,
    /** The worker's task numbers, which its runs' builders draw from: how helpers see a program still submitting ([StepDelay]). */
    private val taskIds: AtomicLong = AtomicLong(),
) : ReadyQueue {
    /** What the scheduler asks of its worker. */
    interface Hooks {
        /** [task]'s last reference is gone: reclaim its slot and bytes. Called from any thread. */
        fun consume(task: Task)

        /**
         * [run] is over (every task terminal, program returned): complete its handle and return its
         * admission permit. Called by the thread that finished the run — an endpoint's (the fast path) or
         * the program's — and again by the scheduler's bookkeeping; only the first call acts.
         */
        fun runFinished(run: Run)
    }

    private val inbox = ConcurrentLinkedQueue<SchedulerEvent>()

    /**
     * The token of the scheduling step: whoever takes it (false → true) owns the scheduler's state until it
     * lets go. [stop] takes it for good.
     */
    private val stepping = AtomicBoolean()

    @Volatile
    private var stopping = false

    // --- state owned by the holder of [stepping] -----------------------------------------------
    private val runs = ArrayDeque<Run>()
    private val subQueue = ArrayDeque<Task>()
    private val nextQueues = Array(nexts.size) { ArrayDeque<Task>() }
    private val idleSubs = IntArray(subs.size) { subs.size - 1 - it } // a stack: the last idle is reused first
    private var idleSubCount = subs.size
    private val nextBusy = BooleanArray(nexts.size)
    private val skipWork = ArrayDeque<Task>()

    /** The sub worker taking this step ([drive]), or -1: it gets the first sub task dispatched, if it is idle. */
    private var preferredSub = -1

    /** Tasks run through the successor hand-off (endpoint threads add to it), for tests and diagnostics. */
    val handOffs = java.util.concurrent.atomic.LongAdder()

    /** Sub workers spinning idle, ready to take a step queued for them ([IdleHelp]). */
    private val helpers = AtomicInteger()

    private val idleHelp = object : IdleHelp {
        override fun enter() {
            helpers.incrementAndGet()
        }

        override fun queued(): Int {
            val head = inbox.peek() ?: return IdleHelp.NONE
            return if (head is SchedulerEvent.Ready && head.task.run.building) IdleHelp.MAY_WAIT else IdleHelp.DUE
        }

        override fun buildProgress(): Long = taskIds.get()

        override fun leave(index: Int) {
            helpers.decrementAndGet()
            if (!inbox.isEmpty()) drive(index)
        }
    }

    fun start() {
        for (e in subs) e.helpWhileIdle(idleHelp)
        for (e in subs) e.start(::endpointDone)
        for (e in nexts) e.start(::endpointDone)
    }

    /**
     * Sends [event] to the scheduler from any thread and takes a scheduling step right here if nobody else
     * is taking one; events are handled in posting order (a worker's own completion may go first: [completedStep]).
     */
    fun post(event: SchedulerEvent) {
        inbox.offer(event)
        drive()
    }

    /**
     * Takes scheduling steps on the calling thread while there are events and nobody else holds the token.
     * A thread that finds the token taken leaves at once: the holder looks at the inbox again after it let
     * go (the poster's offer then CAS and the holder's release then read are all volatile, so one of the two
     * sees the other: Dekker's argument of [dev.strata.wait.SpinPark]), so no event is left unhandled.
     */
    private fun drive(preferSub: Int = -1) {
        while (true) {
            if (!stepping.compareAndSet(false, true)) return
            try {
                if (stopping) return // stop() is waiting for the token
                preferredSub = preferSub
                step()
            } catch (t: Throwable) {
                internalFailure(t)
            } finally {
                preferredSub = -1
                stepping.set(false)
            }
            if (inbox.isEmpty()) return
        }
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
        if (t.run.trace != null) traceMember(d)
        if (d.error != null || t.isGroup) {
            post(SchedulerEvent.Completed(d))
            return null
        }
        // A sub worker finishing a task counts as a helper until its step below: a task the program makes
        // ready meanwhile is left to that step (which hands it to this worker) instead of waking a parked one.
        val ep = d.endpoint
        val helping = subs.getOrNull(ep.index) === ep
        if (helping) helpers.incrementAndGet()
        val consumers = t.complete()
        d.fanoutDone = true
        var next: Dispatch? = null
        var posted = false
        if (consumers != null) {
            for (c in consumers) {
                if (!c.releaseFanin()) continue
                if (next == null && helping && !c.isGroup && c.targets[0] is Target.Sub && c.claim()) {
                    next = Dispatch(c, 0, ep)
                    handOffs.increment()
                } else {
                    inbox.offer(SchedulerEvent.Ready(c)) // queued (or skipped) by the step below
                    posted = true
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
            // a step may still be reading it in launch(), and nobody reads it once the task is complete.)
            t.memberStates[0] = MemberState.SUCCEEDED
            next.task.memberStates[0] = MemberState.RUNNING
            if (helping) helpers.decrementAndGet() // then the queue is looked at (IdleHelp's handshake)
            if (posted || !inbox.isEmpty()) drive(ep.index)
            return next
        }
        if (d.finishedRun) hooks.runFinished(run) // handle and permit first: the caller need not wait for the bookkeeping
        if (helping) helpers.decrementAndGet() // then the queue is looked at (IdleHelp's handshake)
        completedStep(d) // the scheduler's bookkeeping (run order, held tasks, this worker idle)
        return next
    }

    /**
     * Takes the step that handles [d]'s completion on the endpoint's thread: with the token free, the event is
     * handled right here, ahead of those queued (nothing queued depends on it: a completion only makes its own
     * worker idle and its run's bookkeeping due), and saves its trip through the inbox; else it is queued for the
     * holder, like any post. It repeats [drive]'s token handling instead of sharing it: folding both into one
     * loop with a first-event argument read 4.5 against 5.0 M chain tasks/s (medians of 13 alternated runs,
     * 2026-11-26; noisy, but not worth the risk on the hottest path).
     */
    private fun completedStep(d: Dispatch) {
        val ep = d.endpoint
        val preferSub = if (subs.getOrNull(ep.index) === ep) ep.index else -1 // a sub worker gets the next task itself
        if (!stepping.compareAndSet(false, true)) {
            inbox.offer(SchedulerEvent.Completed(d))
            drive(preferSub)
            return
        }
        try {
            if (stopping) return // stop() is waiting for the token
            preferredSub = preferSub
            handleSafely(SchedulerEvent.Completed(d))
            step()
        } catch (t: Throwable) {
            internalFailure(t)
        } finally {
            preferredSub = -1
            stepping.set(false)
        }
        if (!inbox.isEmpty()) drive(preferSub)
    }

    /** Records [d] in its run's trace (out of line: the untraced completion stays small). */
    private fun traceMember(d: Dispatch) {
        d.task.run.trace?.member(d, if (d.endedNanos != 0L) d.endedNanos else System.nanoTime())
    }

    /** Tasks queued ready for dispatch, refreshed by the scheduler loop (read by the stall watchdog). */
    @Volatile
    var readyCount: Int = 0
        private set

    /**
     * Ends [run] now with its first error (the stall watchdog's verdict): what has not started is skipped,
     * its handle completes, and the next run may dispatch. Tasks still running finish (or not) on their own.
     */
    fun abandon(run: Run) = post(SchedulerEvent.RunAbandoned(run))

    fun admit(run: Run) = post(SchedulerEvent.RunAdmitted(run))
    fun runFailed(run: Run) = post(SchedulerEvent.RunFailed(run))
    override fun runArrived(run: Run) = post(SchedulerEvent.RunFinished(run))
    override fun skipPoisoned(task: Task) = post(SchedulerEvent.Skip(task))

    /**
     * [task] became ready (its last producer or its build guard is gone). A sub task's step is left to an
     * idle sub worker while one spins (it takes the step and, usually, the task): the thread that made the
     * task ready — the program's, while it builds — goes on at once. Without a helper it takes the step itself.
     */
    override fun ready(task: Task) {
        inbox.offer(SchedulerEvent.Ready(task))
        if (helpers.get() == 0 || task.isGroup || task.targets[0] !is Target.Sub) drive()
    }

    /**
     * Stops scheduling: no step is taken after this returns, unless one in progress on another thread did
     * not end within [timeoutMillis]. Endpoints are closed by the caller.
     */
    fun stop(timeoutMillis: Long) {
        stopping = true
        val deadline = System.nanoTime() + timeoutMillis * 1_000_000
        while (!stepping.compareAndSet(false, true)) { // a step in progress ends first; the token is then kept
            if (System.nanoTime() - deadline >= 0) {
                log.warn { "$name: the scheduler's step on another thread did not end within $timeoutMillis ms; stopping anyway" }
                return
            }
            Thread.sleep(1)
        }
    }

    /** One scheduling step, by the holder of the token: every event in the inbox, then dispatch. */
    private fun step() {
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
        if (countReady) readyCount = subQueue.size + nextQueues.sumOf { it.size } // a group counts once per target
        trace?.counter("ready tasks", (subQueue.size + nextQueues.sumOf { it.size }).toLong())
    }

    private fun handleSafely(event: SchedulerEvent) {
        try {
            when (event) {
                is SchedulerEvent.Completed -> completed(event.dispatch)
                is SchedulerEvent.Ready -> makeReady(event.task)
                is SchedulerEvent.Skip -> skip(event.task)
                is SchedulerEvent.RunAdmitted -> runs.addLast(event.run)
                is SchedulerEvent.RunFinished -> finishRun(event.run)
                is SchedulerEvent.RunFailed -> purgeHeld(event.run)
                is SchedulerEvent.RunAbandoned -> {
                    purgeHeld(event.run)
                    if (event.run in runs) finishRun(event.run)
                }
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
        t.queued()
        val target = t.targets[0]
        when {
            target is Target.Sub -> subQueue.addLast(t)
            // A group takes its place in the FIFO of each of its targets (issue 13 §16: it must not overtake
            // what was queued there before it); it starts once it heads all of them.
            t.isGroup -> for (tg in t.targets) nextQueues[(tg as Target.Next).index].addLast(t)
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
        for (w in nexts.indices) {
            if (nextBusy[w]) continue
            val q = nextQueues[w]
            val t = liveHead(q) ?: continue
            if (!t.isGroup) {
                q.removeFirst()
                launch(t)
                continue
            }
            // A group at the head of this FIFO holds it (later tasks here wait behind it) until it also heads
            // the FIFO of each other target and all of them are idle. Every FIFO is a subsequence of one
            // order (the order tasks became ready), so the oldest waiting task always heads all of its FIFOs:
            // no two groups can wait for each other.
            if (t.targets.all { tg -> val i = (tg as Target.Next).index; !nextBusy[i] && liveHead(nextQueues[i]) === t }) {
                for (tg in t.targets) nextQueues[(tg as Target.Next).index].removeFirst()
                launch(t)
            }
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
        t.dispatched()
        var dispatchFailed = false
        for (m in t.members.indices) {
            if (dispatchFailed) { // all-or-nothing broke: the rest never start
                t.memberStates[m] = MemberState.SKIPPED
                t.membersTerminal++
                continue
            }
            val target = t.targets[m]
            val sub = target is Target.Sub
            val ep = if (sub) subs[takeIdleSub()] else nexts[(target as Target.Next).index].also { nextBusy[it.index] = true }
            t.memberStates[m] = MemberState.RUNNING
            try {
                ep.dispatch(Dispatch(t, m, ep))
            } catch (e: Throwable) {
                markIdle(ep, sub)
                dispatchFailed = true
                // A dead or broken child says so itself (WorkerDiedException, ProtocolException); anything else
                // is wrapped with the endpoint's path and the task.
                val error = if (e is WorkerDiedException || e is ProtocolException) e else TaskFailedException.of(ep.path, t.id, t.name, e)
                t.run.trace?.refused(t, ep.path, error)
                memberFailed(t, m, error)
                t.membersTerminal++
            }
        }
        if (t.membersTerminal == t.members.size) finishTask(t)
    }

    /** An idle sub worker, taken off the idle stack: the step's own ([preferredSub]) when it is idle, else the last idle. */
    private fun takeIdleSub(): Int {
        val p = preferredSub
        if (p >= 0) {
            preferredSub = -1
            for (k in idleSubCount - 1 downTo 0) {
                if (idleSubs[k] != p) continue
                idleSubs[k] = idleSubs[idleSubCount - 1]
                idleSubCount--
                return p
            }
        }
        return idleSubs[--idleSubCount]
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
        val consumers = if (error == null) t.complete() else t.fail()
        if (error != null) t.run.failedTasks.incrementAndGet()
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
            val consumers = x.skip() ?: continue // still building (now poisoned), running or terminal
            if (x.members.isNotEmpty()) { // a task
                x.run.skippedTasks.incrementAndGet()
                x.run.trace?.skipped(x)
            } else { // a gate nobody will open now
                x.run.gatesDone.incrementAndGet()
            }
            for (m in x.memberStates.indices) x.memberStates[m] = MemberState.SKIPPED
            x.membersTerminal = x.members.size
            skipWork.addAll(consumers)
            afterTerminal(x)
        }
    }

    private fun afterTerminal(t: Task) {
        releaseHeld(t)
        if (t.run.arrive()) finishRun(t.run)
    }

    /** Releases the references [t] held on its producers and on itself. Thread-safe. */
    private fun releaseHeld(t: Task) {
        t.deviceBuffers?.let { bs ->
            for (b in bs) b.users?.remove(t)
            t.deviceBuffers = null
        }
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
        log.error(t) { "$name: scheduler invariant broken; failing all admitted runs" }
        val error = InternalStrataException("the scheduler failed: $t", t)
        for (run in runs.toList()) {
            run.fail(error)
            runs.remove(run)
            hooks.runFinished(run)
        }
    }
}
