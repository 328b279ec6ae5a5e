package dev.strata.process

import kotlinx.serialization.json.JsonElement
import arrow.resilience.saga
import arrow.resilience.transact
import dev.strata.error.WorkerDiedException
import dev.strata.error.WorkerStartException
import io.github.oshai.kotlinlogging.KotlinLogging
import kotlinx.coroutines.runBlocking
import java.util.concurrent.CompletableFuture
import java.util.concurrent.ExecutionException
import java.util.concurrent.TimeUnit
import java.util.concurrent.TimeoutException
import kotlin.time.Duration
import dev.strata.shm.SegmentSweeper
import dev.strata.mailbox.Doorbell

private val log = KotlinLogging.logger {}

/** One child process to start: its path, its index among its kind, and (for next-level children) its worker. */
internal class ChildPlan(val path: String, val index: Int, val kind: String, val level: Int, val worker: JsonElement?, val chip: ChipChildSpec? = null)

/**
 * The child processes of one worker, their doorbell and their reactor. [start] is all-or-nothing
 * (DESIGN.md §8, seed pr930-935's barrier): every child is launched, then the parent waits for all of
 * them to report under one deadline; if any fails or is late, an Arrow saga stops every child already
 * launched, unlinks every file, and one [WorkerStartException] names each failed child.
 */
internal class ProcessChildren private constructor(
    private val doorbell: Doorbell,
    private val reactor: Reactor,
    val endpoints: List<ProcessEndpoint>,
) {
    /** Looks at every child's mailbox now (a waiter helping the reactor; see RunHandle). */
    fun pollAll() {
        for (e in endpoints) e.poll()
    }

    /** Stops every child: SHUTDOWN to all, then one shared deadline to exit, then SIGKILL; unlinks everything. */
    fun close(timeoutMillis: Long) {
        shutdownAll(endpoints, timeoutMillis)
        reactor.stop()
        doorbell.close()
    }

    companion object {
        fun start(
            workerPath: String,
            plans: List<ChildPlan>,
            registry: CallableRegistry,
            spinNanos: Long,
            startTimeout: Duration,
            jvmOptions: List<String>,
            /** Bounds and recovery of each child: by its plan (a chip child is never replaced). */
            settings: (ChildPlan) -> ProcessEndpoint.Settings,
            /** How long a rollback waits for children to shut down gracefully before it kills them. */
            rollbackMillis: Long = 5_000,
            /** Where each life of a child writes its own trace (null: the worker does not trace). */
            childTrace: ((ChildPlan) -> String)? = null,
            /** Told `(ready, total)` as children report ready: `(0, total)` first, then once per child. */
            onReady: ((ready: Int, total: Int) -> Unit)? = null,
        ): ProcessChildren {
            // A child that cannot find its entry point would only say "could not find main class" and die:
            // say which class is missing, from what, and the way out, before starting anything.
            ChildLauncher.missingFromClasspath(ChildLauncher.childClasspath())?.let { why ->
                throw WorkerStartException(workerPath, plans.map { "${it.path}: $why" })
            }
            SegmentSweeper.sweep()
            val preload = registry.snapshot().map { (id, name) -> CallableEntry(id, name) }
            try {
                return runBlocking {
                    saga {
                        val doorbell = saga({ Doorbell.create() }) { it.close() }
                        val reactor = saga({ Reactor(workerPath.replace(' ', '-'), doorbell, spinNanos).also { it.start() } }) { it.stop() }
                        val endpoints = plans.map { plan ->
                            saga({ launch(plan, preload, registry, doorbell, reactor, spinNanos, jvmOptions, settings(plan), childTrace) }) { it.kill() }
                        }
                        onReady?.let { report(workerPath, endpoints, it) }
                        try {
                            awaitReady(workerPath, endpoints, startTimeout)
                        } catch (t: Throwable) {
                            // Roll back gracefully (issue 13 §8): a child that did start (a healthy sibling, a
                            // whole nested worker) shuts down as at close — its own children and their files go
                            // with it — within one shared bound; only then is anything left killed.
                            shutdownAll(endpoints, rollbackMillis)
                            throw t
                        }
                        ProcessChildren(doorbell, reactor, endpoints)
                    }.transact()
                }
            } catch (t: Throwable) {
                // What killed children's subtrees left (their own children's files) is unlinked now: the owners'
                // locks died with them.
                SegmentSweeper.sweep()
                throw t
            }
        }

        /** Reports `(0, n)`, then `(k, n)` as each of [endpoints] reports ready; a failing [onReady] is logged, never thrown. */
        private fun report(workerPath: String, endpoints: List<ProcessEndpoint>, onReady: (Int, Int) -> Unit) {
            val total = endpoints.size
            val ready = java.util.concurrent.atomic.AtomicInteger()
            fun tell(k: Int) = try {
                onReady(k, total)
            } catch (e: Exception) {
                log.warn(e) { "$workerPath: the start-up progress callback failed (ignored)" }
            }
            tell(0)
            for (ep in endpoints) ep.init.whenComplete { _, e -> if (e == null) tell(ready.incrementAndGet()) }
        }

        /** SHUTDOWN to every child, then one shared deadline of [timeoutMillis] to exit, then SIGKILL; unlinks their mailboxes. */
        private fun shutdownAll(endpoints: List<ProcessEndpoint>, timeoutMillis: Long) {
            for (e in endpoints) e.beginShutdown()
            val deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(timeoutMillis)
            for (e in endpoints) e.finishShutdown(deadline)
        }

        private fun launch(
            plan: ChildPlan,
            preload: List<CallableEntry>,
            registry: CallableRegistry,
            doorbell: Doorbell,
            reactor: Reactor,
            spinNanos: Long,
            jvmOptions: List<String>,
            settings: ProcessEndpoint.Settings,
            childTrace: ((ChildPlan) -> String)?,
        ): ProcessEndpoint {
            val ep = ProcessEndpoint(plan.path, plan.index, registry, settings) { file, callables ->
                val spec = ChildSpec(
                    path = plan.path, kind = plan.kind, level = plan.level, parentPid = ProcessHandle.current().pid(),
                    mailbox = file.path.toString(), doorbell = doorbell.path.toString(), spinNanos = spinNanos,
                    callables = callables, worker = plan.worker, chip = plan.chip, segmentOwners = SegmentTrust.forChild(),
                    trace = childTrace?.invoke(plan),
                )
                ChildLauncher.launch(spec, jvmOptions)
            }
            try {
                reactor.add(ep)
                ep.launch(preload)
            } catch (t: Throwable) {
                ep.kill()
                throw t
            }
            return ep
        }

        /**
         * Waits for every child's report under one deadline; throws one error naming each child that failed.
         * The first failure ends the wait at once (issue 13 §9): the others get a short grace to report, and a
         * child still starting then is named as abandoned, not as too slow.
         */
        private fun awaitReady(workerPath: String, endpoints: List<ProcessEndpoint>, timeout: Duration) {
            val started = System.nanoTime()
            val deadline = started + timeout.inWholeNanoseconds
            val all = CompletableFuture.allOf(*endpoints.map { it.init }.toTypedArray())
            val firstFailure = CompletableFuture<ProcessEndpoint>()
            for (ep in endpoints) ep.init.whenComplete { _, e -> if (e != null) firstFailure.complete(ep) }
            try {
                CompletableFuture.anyOf(all, firstFailure).get(timeout.inWholeNanoseconds, TimeUnit.NANOSECONDS)
            } catch (_: ExecutionException) {
                // all failed exceptionally: handled below
            } catch (_: TimeoutException) {
                // handled below
            }
            if (all.isDone && !all.isCompletedExceptionally) {
                log.debug { "$workerPath: ${endpoints.size} child processes ready in ${(System.nanoTime() - started) / 1_000_000} ms" }
                return
            }
            val failed = firstFailure.getNow(null)
            if (failed != null) { // let the others report, briefly
                val grace = minOf(deadline - System.nanoTime(), FAILURE_GRACE_NANOS)
                runCatching {
                    CompletableFuture.allOf(*endpoints.map { it.init.exceptionally { } }.toTypedArray()).get(maxOf(0, grace), TimeUnit.NANOSECONDS)
                }
            }
            val failures = endpoints.mapNotNull { ep ->
                val init = ep.init
                when {
                    !init.isDone && failed != null -> "${ep.path}: stopped before it reported ready (start-up was abandoned when ${failed.path} failed)"
                    !init.isDone -> "${ep.path}: did not report ready within $timeout (it is still starting, or hangs in " +
                        "its start-up: callable constructors, a nested worker's own start); raise WorkerConfig.startTimeout " +
                        "if start-up is just slow"
                    init.isCompletedExceptionally -> {
                        val cause = runCatching { init.get() }.exceptionOrNull()?.let { (it as? ExecutionException)?.cause ?: it }
                        when (cause) {
                            is WorkerDiedException -> "${ep.path}: exited before reporting ready (pid ${cause.pid}, ${WorkerDiedException.describeExit(cause.exitCode)})"
                            else -> "${ep.path}: reported INIT_FAILED: ${cause?.message}"
                        }
                    }
                    else -> null
                }
            }
            throw WorkerStartException(workerPath, failures)
        }

        /** How long the other children may still report after the first failed its start-up. */
        private const val FAILURE_GRACE_NANOS = 2_000_000_000L
    }
}
