package dev.strata.worker

import dev.strata.chip.ChipRuntime
import dev.strata.endpoint.DispatchFailure
import dev.strata.endpoint.Endpoint
import dev.strata.endpoint.TaskRunner
import dev.strata.endpoint.ThreadEndpoint
import dev.strata.error.InvalidCallableException
import dev.strata.error.WorkerDiedException
import dev.strata.error.WorkerStartException
import dev.strata.process.CallableRegistry
import dev.strata.process.ChildPlan
import dev.strata.process.ChipChildSpec
import dev.strata.process.ControlOp
import dev.strata.process.ProcessChildren
import dev.strata.process.ProcessEndpoint
import dev.strata.remote.RemoteEndpoint
import dev.strata.remote.Residency
import dev.strata.remote.FetchingEndpoint
import dev.strata.task.ChipView
import dev.strata.run.CallableAdmission
import dev.strata.task.Target
import dev.strata.task.TaskCallable
import dev.strata.trace.TraceRecorder
import java.util.concurrent.CompletableFuture
import java.util.concurrent.ExecutionException
import java.util.concurrent.TimeUnit
import kotlin.time.Duration
import kotlin.time.Duration.Companion.nanoseconds

/**
 * The children of one worker and their lifecycle: brought up all-or-nothing in the constructor, closed in
 * order by [close]. In bring-up order: the child JVMs (sub workers, next-level children, chips; all ready
 * under one deadline), the chips in this JVM (started together), then the endpoints the scheduler talks
 * to. The chips' communication domains come up afterwards ([HostChips.bringUpConfiguredDomains]). A failed start rolls back whatever it had started and throws one
 * error naming each failed child.
 */
internal class WorkerChildren(
    private val config: WorkerConfig,
    /** For a chip's cores: the chip they see as `ctx.chip`. */
    private val chipView: ChipView?,
    /** Callables of process children by stable name. */
    private val callables: CallableRegistry,
    /** Whether a stall watchdog reads the in-process endpoints' progress. */
    private val tracked: Boolean,
    /** The worker's timeline trace, shared with the workers nested in it (a chip's cores, a configured next level). */
    private val trace: TraceRecorder? = null,
) : CallableAdmission {
    private val spinNanos = config.spin.inWholeNanoseconds
    private val subsInProcesses = config.subIsolation == Isolation.PROCESS
    private val nextInProcess = BooleanArray(config.nextLevel.size) { config.isProcess(it) }

    /** The worker's child processes, started (all ready) before anything else; null without any. */
    val processes: ProcessChildren?

    /** Chips in this JVM, by next-level index. */
    val localChips = arrayOfNulls<ChipRuntime>(config.nextLevel.size)

    /** What the remote nodes hold (results left where they were made), for a worker with remote next-level children. */
    val residency: Residency? = if (config.nextLevel.any { it is NextLevelChild.Remote }) Residency() else null

    /** The sub worker pool, by index. */
    val subs: Array<Endpoint>

    /** The next-level children, by index. */
    val nexts: Array<Endpoint>

    init {
        var started: ProcessChildren? = null
        try {
            started = startProcesses()
            startLocalChips()
            var k = 0
            subs = Array(config.subWorkers) { i ->
                if (subsInProcesses) started!!.endpoints[k++] else subEndpoint(i)
            }
            val built = ArrayList<Worker>()
            try {
                nexts = Array(config.nextLevel.size) { i ->
                    val child = config.nextLevel[i]
                    if (nextInProcess[i]) {
                        started!!.endpoints[k++]
                    } else if (child is NextLevelChild.Remote) {
                        RemoteEndpoint(nextPath(i), i, child.link, residency)
                    } else {
                        val nested = when (child) {
                            is NextLevelChild.Nested -> child.worker
                            is NextLevelChild.Config -> Worker(child.config, null, trace, nextPath(i)).also { built += it }
                            NextLevelChild.Plain, is NextLevelChild.Chip, is NextLevelChild.Remote -> null
                        }
                        nextEndpoint(i, nested)
                    }
                }
            } catch (t: Throwable) {
                built.forEach { runCatching { it.close() } }
                throw t
            }
        } catch (t: Throwable) {
            started?.close(config.closeTimeout.inWholeMilliseconds)
            localChips.forEach { c -> c?.let { runCatching { it.close() } } }
            config.closeRemoteLinks()
            throw t
        }
        processes = started
    }

    /**
     * The endpoints the scheduler drives: [subs] and [nexts], a child JVM's wrapped in a [FetchingEndpoint]
     * when remote nodes may hold results (a task there reads the caller's memory directly).
     */
    val scheduledSubs: Array<Endpoint> = subs.map { fetching(it) }.toTypedArray()
    val scheduledNexts: Array<Endpoint> = nexts.map { fetching(it) }.toTypedArray()

    private fun fetching(e: Endpoint): Endpoint = if (residency != null && e is ProcessEndpoint) FetchingEndpoint(e, residency) else e

    /** A callable sent to a child JVM needs a stable name: its id among the named callables, else -1. */
    override fun admit(callable: TaskCallable, targets: Array<Target>): Int {
        if (hasRemote) {
            for (t in targets) (nexts.getOrNull((t as? Target.Next)?.index ?: -1) as? RemoteEndpoint)?.admit(callable)
        }
        if (processes == null) return -1
        for (t in targets) {
            val process = when (t) {
                Target.Sub -> subsInProcesses
                is Target.Next -> nextInProcess.getOrElse(t.index) { false }
            }
            if (process) return callables.idFor(callable)
        }
        return -1
    }

    private val hasRemote = config.nextLevel.any { it is NextLevelChild.Remote }

    /** Path of next-level child [i] in errors: `L4 node#1`. */
    fun nextPath(i: Int): String = "${config.name} ${WorkerConfig.childKind(config.level)}#$i"

    /** The endpoint whose thread calls this (a task of this worker), or null. */
    fun endpointOfCurrentThread(): Endpoint? =
        subs.firstOrNull { it.ownsCurrentThread() } ?: nexts.firstOrNull { it.ownsCurrentThread() }

    /** Sub worker [i] on a thread of this JVM. */
    private fun subEndpoint(i: Int): Endpoint {
        val path = "${config.name} sub#$i"
        return ThreadEndpoint(
            path, i, spinNanos, guarded(TaskRunner.calling(path, chip = chipView)), tracked = tracked,
            cancelGraceMillis = config.closeTimeout.inWholeMilliseconds,
        )
    }

    /** Next-level child [i] on a thread of this JVM: a chip's tasks launch on it, others are called with [nested] as `ctx.worker`. */
    private fun nextEndpoint(i: Int, nested: Worker?): Endpoint {
        val path = nextPath(i)
        val chip = localChips[i]
        val runner = if (chip != null) {
            TaskRunner { t, m -> chip.execute(t.callable!!, chip.resolveArgs(t.members[m]), m, t.members.size) }
        } else {
            TaskRunner.calling(path, nested, chipView)
        }
        return ThreadEndpoint(
            path, i, spinNanos, guarded(runner), owned = chip ?: nested, tracked = tracked, cancelGraceMillis = config.closeTimeout.inWholeMilliseconds,
        )
    }

    /**
     * [runner], first fetching what remote nodes hold of the task's tensors into them ([Residency.prepareLocal],
     * on the endpoint's own thread): a task in this JVM reads the caller's bytes directly.
     */
    private fun guarded(runner: TaskRunner): TaskRunner {
        val r = residency ?: return runner
        return TaskRunner { t, m ->
            try {
                r.prepareLocal(t.members[m], "task #${t.id} '${t.name}'")
            } catch (e: WorkerDiedException) {
                throw DispatchFailure(e)
            }
            runner.run(t, m)
        }
    }

    private fun startProcesses(): ProcessChildren? {
        if (!config.hasProcessChildren) return null
        val plans = ArrayList<ChildPlan>()
        if (subsInProcesses) {
            for (i in 0 until config.subWorkers) plans += ChildPlan("${config.name} sub#$i", i, "sub", config.level, null)
        }
        config.nextLevel.forEachIndexed { i, c ->
            if (!nextInProcess[i]) return@forEachIndexed
            plans += when (c) {
                is NextLevelChild.Chip -> ChildPlan(nextPath(i), i, "chip", 2, null, ChipChildSpec(i, c.config))
                else -> ChildPlan(nextPath(i), i, "next", config.level - 1, (c as? NextLevelChild.Config)?.let { WorkerSpec.of(it.config).toJson() })
            }
        }
        return ProcessChildren.start(
            config.name, plans, callables, spinNanos, config.startTimeout, config.childJvmOptions,
            settings = { plan ->
                // A control request is bounded like a start-up (it may load classes); a chip is never replaced.
                ProcessEndpoint.Settings(
                    replaceable = plan.chip == null, controlTimeout = config.startTimeout, cancelGrace = config.closeTimeout, tracked = tracked,
                )
            },
            rollbackMillis = config.closeTimeout.inWholeMilliseconds,
            childTrace = trace?.let { recorder -> { plan -> recorder.childFile(plan.path).toString() } },
            onReady = config.startProgress?.let { p -> { ready, total -> p.update(ready, total) } },
        )
    }

    /**
     * Starts the chips that live in this JVM, all at once (their domains meet in a barrier), and waits for
     * every one under the start-up deadline; on any failure stops them all and names each failed chip.
     */
    private fun startLocalChips() {
        val idx = config.nextLevel.indices.filter { config.nextLevel[it] is NextLevelChild.Chip && !nextInProcess[it] }
        if (idx.isEmpty()) return
        val futures = idx.associateWith { i ->
            val c = (config.nextLevel[i] as NextLevelChild.Chip).config
            CompletableFuture<ChipRuntime>().also { f ->
                Thread({
                    try {
                        f.complete(startLocalChip(nextPath(i), i, c, trace))
                    } catch (t: Throwable) {
                        f.completeExceptionally(t)
                    }
                }, "strata-${nextPath(i).replace(' ', '-')}-start").apply { isDaemon = true }.start()
            }
        }
        val deadline = System.nanoTime() + config.startTimeout.inWholeNanoseconds
        for (f in futures.values) runCatching { f.get(maxOf(0, deadline - System.nanoTime()), TimeUnit.NANOSECONDS) }
        val failures = futures.mapNotNull { (i, f) ->
            when {
                !f.isDone -> "${nextPath(i)}: did not report ready within ${config.startTimeout}"
                f.isCompletedExceptionally -> "${nextPath(i)}: " + (runCatching { f.get() }.exceptionOrNull()?.let { it.cause ?: it }?.message)
                else -> null
            }
        }
        if (failures.isEmpty()) {
            for ((i, f) in futures) localChips[i] = f.get()
            return
        }
        for (f in futures.values) {
            if (!f.isDone) f.whenComplete { rt, _ -> rt?.close() } else if (!f.isCompletedExceptionally) f.get().close()
        }
        throw WorkerStartException(config.name, failures)
    }

    /** Registers [callable] with every process child now (it would otherwise be sent on first use). */
    fun register(callable: TaskCallable) {
        val id = callables.idFor(callable)
        val name = callables.nameOf(id)
        val eps = processes?.endpoints ?: return
        val failures = eps.mapNotNull { ep ->
            // The endpoint ends the request at startTimeout (killing the child); the margin lets its error, not a bare timeout, arrive.
            runCatching { ep.control(ControlOp.REGISTER, id, name).get(config.startTimeout.inWholeMilliseconds + DEADLINE_MARGIN_MS, TimeUnit.MILLISECONDS) }
                .exceptionOrNull()?.let { "${ep.path}: ${(it as? ExecutionException)?.cause?.message ?: it.toString()}" }
        }
        if (failures.isNotEmpty()) throw InvalidCallableException(name, "registering it failed on ${failures.joinToString("; ")}")
    }

    private companion object {
        /** How much longer a caller waits than the endpoint's own control deadline. */
        const val DEADLINE_MARGIN_MS = 5_000L
    }

    /** Round trip of a ping to each process child, by path; a child that does not answer within [timeout] maps to null. */
    fun ping(timeout: Duration): Map<String, Duration?> =
        (processes?.endpoints ?: emptyList()).associate { ep ->
            val start = System.nanoTime()
            val ok = runCatching { ep.control(ControlOp.PING).get(timeout.inWholeMilliseconds, TimeUnit.MILLISECONDS) }.isSuccess
            ep.path to if (ok) (System.nanoTime() - start).nanoseconds else null
        }

    /** Process ids of the child JVMs, by path. */
    val childPids: Map<String, Long>
        get() = processes?.endpoints?.associate { it.path to (it.process?.pid() ?: -1L) } ?: emptyMap()

    /**
     * Stops every child, waiting at most [timeoutMillis] for each: the in-process endpoints (and what they
     * ran on: nested workers, chips), then the child JVMs, then the domains' files. Never throws.
     */
    fun close(timeoutMillis: Long) {
        residency?.close() // before the links close: what nodes hold is released while they can still hear it
        for (e in subs) if (e !is ProcessEndpoint) e.close(timeoutMillis)
        for (e in nexts) if (e !is ProcessEndpoint) e.close(timeoutMillis)
        processes?.close(timeoutMillis)
    }
}
