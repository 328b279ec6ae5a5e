package dev.strata.schedule

import dev.strata.endpoint.Dispatch
import dev.strata.endpoint.Endpoint
import dev.strata.graph.Run
import dev.strata.error.SchedulerStallException
import dev.strata.error.StallKind
import java.util.concurrent.ScheduledFuture
import java.util.concurrent.ScheduledThreadPoolExecutor
import java.util.concurrent.TimeUnit
import kotlin.time.Duration

/**
 * The stall watchdog (DESIGN.md §9, seed pr930-935) of a chip's engine (level 2) or, when its config
 * sets a budget, of a host worker (its children on threads or in child JVMs): a wall-clock no-progress budget with the
 * seed's ownership rule, checked a few times per budget from one shared timer thread — never by the
 * cores themselves. A run's admission arms the checks ([arm]); the first check that finds no run in flight
 * stops them, so an idle engine costs at most one more wake-up, and back-to-back runs none at all (arming
 * and cancelling the timer per run woke its thread thousands of times a second under a chip JVM's
 * allreduce: docs/performance.md, issue 17).
 *
 * Simpler's AICPU scheduler threads each own a set of cores; here each core's dispatch loop plays that
 * part and keeps its own clock, refreshed whenever it starts or finishes a task. When a core's clock
 * runs past the budget:
 * - if it owns a RUNNING task, it declares `running-stalled` (first-hand evidence);
 * - else, if no core owns a RUNNING task and the program has not submitted anything for the budget
 *   while the run is unfinished, it declares the global stall, classified by what is left: ready tasks
 *   (`ready-but-idle`), tasks waiting on producers or gates (`dependency deadlock`), or nothing but a
 *   program that neither submits nor returns (`orchestrator starvation`);
 * - otherwise a sibling owns the running task (or the program is busy): the clock is refreshed, so an idle
 *   core never fails a run while a long, healthy kernel runs elsewhere (the false positive the seed fixed).
 *
 * The first declaration wins; [Hooks.declare] fails the run at once.
 */
internal class StallWatchdog(
    private val path: String,
    private val budget: Duration,
    private val cores: List<Endpoint>,
    private val hooks: Hooks,
    /** Where a user raises [budget] (named in the error). */
    private val budgetSetting: String = "ChipConfig.stallTimeout or STRATA_SCHEDULER_TIMEOUT_MS",
) : AutoCloseable {
    /** What the watchdog reads from its worker. */
    interface Hooks {
        /** The oldest run in flight, or null. */
        fun headRun(): Run?

        /** A number that changes whenever the program submits (the worker's task counter). */
        fun submitted(): Long

        /** Tasks queued ready for dispatch (approximate: written by the scheduler's steps). */
        fun readyCount(): Int

        /** Fails [run] with [error] at once; [stuck] is the dispatch of the core that owns it, if any. */
        fun declare(run: Run, error: SchedulerStallException, stuck: Pair<Endpoint, Dispatch>?)
    }

    private val budgetNanos = budget.inWholeNanoseconds
    private val clocks = LongArray(cores.size)
    private var orchestratorClock = 0L
    private var lastSubmitted = Long.MIN_VALUE
    private var lastRun: Run? = null
    private var declared: Run? = null
    private var future: ScheduledFuture<*>? = null
    private val period = (budgetNanos / 8).coerceIn(MIN_PERIOD_NANOS, MAX_PERIOD_NANOS)

    /** Starts the periodic checks (a run was admitted); no-op while they run. */
    @Synchronized
    fun arm() {
        if (future == null) future = TIMER.scheduleAtFixedRate(::tickSafely, period, period, TimeUnit.NANOSECONDS)
    }

    private fun tickSafely() {
        try {
            tick(System.nanoTime())
        } catch (t: Throwable) {
            io.github.oshai.kotlinlogging.KotlinLogging.logger {}.error(t) { "$path: the stall watchdog failed" }
        }
    }

    /** Whether the periodic checks run (armed and not yet stopped by an idle check). */
    @get:Synchronized
    val armed: Boolean get() = future != null

    /**
     * One check at time [now]. Runs on the timer thread (tests call it directly). With no run in flight it
     * stops the periodic checks (under the lock [arm] takes: a run admitted meanwhile re-arms them).
     */
    @Synchronized
    fun tick(now: Long) {
        val run = hooks.headRun()
        if (run == null) {
            future?.cancel(false)
            future = null
            lastRun = null
            return
        }
        if (run === declared) {
            lastRun = null
            return
        }
        if (run !== lastRun) { // a new run: every clock starts now
            lastRun = run
            clocks.fill(now)
            orchestratorClock = now
            lastSubmitted = hooks.submitted()
        }
        val submitted = hooks.submitted()
        if (submitted != lastSubmitted) {
            lastSubmitted = submitted
            orchestratorClock = now
        }
        var anyRunning = false
        for (c in cores.indices) {
            val p = cores[c].lastProgressNanos
            if (p - clocks[c] > 0) clocks[c] = p
            if (cores[c].busy) anyRunning = true
        }
        for (c in cores.indices) {
            if (now - clocks[c] <= budgetNanos) continue
            val core = cores[c]
            val d = core.running
            if (d != null && d.stopRequested) {
                // Already stopped by a verdict: the core is being recovered (the task ends, or its thread or
                // JVM is given up within a bounded grace), which is not a new stall.
                clocks[c] = now
                continue
            }
            if (d != null) {
                val old = if (d.task.run !== run) " (of an earlier run that was abandoned)" else ""
                declare(run, StallKind.RUNNING_STALLED, core.describeRunning(d, now - core.runningSinceNanos) + old, core to d)
                return
            }
            if (!anyRunning && now - orchestratorClock > budgetNanos) {
                declare(run, classify(run), null)
                return
            }
            clocks[c] = now // a sibling owns the running task, or the program is busy: no evidence here
        }
        if (cores.isEmpty() && now - orchestratorClock > budgetNanos) declare(run, classify(run), null)
    }

    private fun classify(run: Run): Pair<StallKind, String> {
        val remaining = run.pending.get() - (if (run.building) 1 else 0)
        val ready = hooks.readyCount()
        return when {
            ready > 0 -> StallKind.READY_BUT_IDLE to "$ready task(s) are ready but no core is running anything"
            remaining > 0 -> StallKind.DEPENDENCY_DEADLOCK to
                "$remaining task(s) wait for producers or gates that nothing will complete, and no core is running"
            else -> StallKind.ORCHESTRATOR_STARVATION to
                "every submitted task finished, but the program has neither submitted more nor returned"
        }
    }

    private fun declare(run: Run, kind: Pair<StallKind, String>, stuck: Pair<Endpoint, Dispatch>?) =
        declare(run, kind.first, kind.second, stuck)

    private fun declare(run: Run, kind: StallKind, detail: String, stuck: Pair<Endpoint, Dispatch>?) {
        declared = run
        hooks.declare(run, SchedulerStallException(path, kind, budget, detail, budgetSetting), stuck)
    }

    @Synchronized
    override fun close() {
        future?.cancel(false)
        future = null
    }

    private companion object {
        const val MIN_PERIOD_NANOS = 5_000_000L
        const val MAX_PERIOD_NANOS = 500_000_000L

        /** One daemon thread checks every watchdog of the JVM. */
        val TIMER = ScheduledThreadPoolExecutor(1) { r -> Thread(r, "strata-stall-watchdog").apply { isDaemon = true } }.apply {
            removeOnCancelPolicy = true
        }
    }
}
