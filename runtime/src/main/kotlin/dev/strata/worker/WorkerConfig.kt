package dev.strata.worker

import arrow.core.raise.accumulate
import arrow.core.raise.either
import dev.strata.error.InvalidConfigException
import java.nio.file.Path
import dev.strata.trace.TraceDefaults
import kotlin.time.Duration
import kotlin.time.Duration.Companion.microseconds
import kotlin.time.Duration.Companion.seconds
import dev.strata.task.TaskCallable
import dev.strata.chip.CommDomainSpec
import dev.strata.chip.ChipConfig
import dev.strata.remote.RemoteLink

/** A next-level child of a worker (a chip of a level-3 worker, a node of a level-4 one). */
public sealed interface NextLevelChild {
    /** A child that runs the callables sent to it on its own thread (no nested worker). */
    public data object Plain : NextLevelChild

    /**
     * A whole worker one level down, in this process; tasks sent to it see it as `TaskContext.worker`
     * and usually run a nested program on it. The parent closes it when it closes.
     */
    public class Nested(public val worker: Worker) : NextLevelChild

    /**
     * A whole worker one level down, described by [config] and built by the parent: in this JVM when
     * the parent's `nextIsolation` is [Isolation.THREAD], in a child JVM (which then drives its own
     * children) when it is [Isolation.PROCESS]. The parent closes it when it closes.
     */
    public data class Config(public val config: WorkerConfig) : NextLevelChild

    /**
     * A chip (level-3 workers only), driven through its [dev.strata.chip.ChipDriver]: in a child JVM when
     * the parent's `chipIsolation` is [Isolation.PROCESS] (the default), else in this JVM. Its cores run
     * kernels on a level-2 engine; device memory is reached through `Worker.deviceTensor` and copies.
     */
    public data class Chip(public val config: ChipConfig) : NextLevelChild

    /**
     * A worker one level down on another host, reached through [link] (issue 15; `strata-cluster` makes
     * them: `remoteNode("host:port")`). Tasks sent to it are the same submits as for any other child:
     * callables by stable name (checked on the node when first submitted), tensors copied to the node
     * and written ones copied back. It never lives in a child JVM of this worker, whatever
     * `nextIsolation` says. The parent closes the link when it closes.
     */
    public class Remote(public val link: RemoteLink) : NextLevelChild {
        override fun toString(): String = "Remote(${link.address}, level ${link.level})"
    }
}

/**
 * Progress of a worker's start-up: [update] is called with how many of its [total][update] child JVMs have
 * reported ready — `(0, n)` before the first, then once per child as each is ready (not in order, and from
 * Strata's own threads: keep it quick). An exception it throws is logged and ignored.
 */
public fun interface StartProgress {
    /** [ready] of [total] child JVMs are ready. */
    public fun update(ready: Int, total: Int)
}

/**
 * How to build a [Worker]. Every limit has a default; [validate] reports every problem at once.
 *
 * @property level the worker's level (2 chip, 3 node, 4 pod, 5–6 above); a label, not a fork in the engine.
 * @property subWorkers host sub workers in the pool: one thread each, or one child JVM each with
 *   [subIsolation] `PROCESS`.
 * @property nextLevel next-level children, addressed as `Target.Next(i)` in order.
 * @property taskWindow task slots in flight (submitted and not yet consumed) before `submit` suspends.
 * @property heapRingBytes bytes of each of the 4 heap rings that serve `alloc` (one per scope depth).
 * @property backPressureTimeout how long `submit` / `alloc` wait for room before failing.
 * @property spin how long an idle thread spins before parking: higher is faster to react, lower is cheaper idle.
 * @property closeTimeout how long `close` waits for runs in flight before cancelling them (and, for
 *   child processes, how long they get to exit before they are killed).
 * @property subIsolation whether sub workers are threads of this JVM or child JVMs.
 * @property nextIsolation whether next-level children are threads of this JVM or child JVMs.
 * @property callables callables that process-isolated children load at start-up (others are sent on first use).
 * @property startTimeout how long start-up waits for every child process to report ready.
 * @property childJvmOptions extra JVM options for child processes (e.g. `-Xmx512m`).
 * @property chipIsolation where chips run: child JVMs ([Isolation.PROCESS], the default) or threads of this JVM.
 * @property domains communication domains among this worker's chips, brought up before the worker is ready.
 * @property stallTimeout the stall watchdog's no-progress budget; null means no watchdog. Chips set
 *   theirs from their [dev.strata.chip.ChipConfig]. On a host worker (level 3 and up) it is opt-in and
 *   needs every child in this JVM (sub workers and next-level children on threads): when nothing
 *   progresses for the budget — one task running that long, or tasks left that nothing will make ready,
 *   such as a gate only a gated task would open — the run fails with a
 *   [dev.strata.error.SchedulerStallException] saying which, instead of waiting forever.
 * @property trace where to write a timeline of every run (a Chrome/Perfetto trace-event JSON file, see
 *   [dev.strata.trace.TraceFile]) when the worker closes; null (the default) records nothing. One track per
 *   sub worker, next-level child and chip core (chips in this JVM), a span per task with its phases. Null
 *   also lets [TRACE_PROPERTY] switch tracing on from outside.
 * @property startProgress told how many of this worker's child JVMs have reported ready while they start
 *   (`0 of n` first, then once per child), for a progress bar; null (the default) tells nothing.
 */
public data class WorkerConfig(
    val level: Int = 3,
    val subWorkers: Int = 0,
    val nextLevel: List<NextLevelChild> = emptyList(),
    val taskWindow: Int = 16_384,
    val heapRingBytes: Long = 64L shl 20,
    val backPressureTimeout: Duration = 10.seconds,
    val spin: Duration = 50.microseconds,
    val closeTimeout: Duration = 10.seconds,
    val name: String = "L$level",
    val subIsolation: Isolation = Isolation.THREAD,
    val nextIsolation: Isolation = Isolation.THREAD,
    val callables: List<TaskCallable> = emptyList(),
    val startTimeout: Duration = 30.seconds,
    val childJvmOptions: List<String> = emptyList(),
    val chipIsolation: Isolation = Isolation.PROCESS,
    val domains: List<CommDomainSpec> = emptyList(),
    val stallTimeout: Duration? = null,
    val trace: Path? = null,
    val startProgress: StartProgress? = null,
) {
    /** Whether next-level child [i] runs in its own JVM. */
    public fun isProcess(i: Int): Boolean = when (nextLevel[i]) {
        is NextLevelChild.Chip -> chipIsolation == Isolation.PROCESS
        is NextLevelChild.Remote -> false
        else -> nextIsolation == Isolation.PROCESS
    }

    /** Indices of the chips among the next-level children. */
    public val chipIndices: List<Int> get() = nextLevel.indices.filter { nextLevel[it] is NextLevelChild.Chip }

    /** True when any child of this worker runs in its own JVM. */
    public val hasProcessChildren: Boolean
        get() = (subIsolation == Isolation.PROCESS && subWorkers > 0) || nextLevel.indices.any { isProcess(it) }

    /** Throws [InvalidConfigException] listing every problem, or returns this config. */
    public fun validate(): WorkerConfig {
        either {
            accumulate {
                ensureOrAccumulate(level in 2..6) { "level must be 2..6 (chip, node, pod, supernode, cluster), was $level" }
                ensureOrAccumulate(subWorkers >= 0) { "subWorkers must be >= 0, was $subWorkers" }
                ensureOrAccumulate(subWorkers <= 1024) { "subWorkers must be <= 1024 (one thread each), was $subWorkers" }
                ensureOrAccumulate(taskWindow > 0) { "taskWindow must be > 0, was $taskWindow" }
                ensureOrAccumulate(heapRingBytes > 0) { "heapRingBytes must be > 0, was $heapRingBytes" }
                ensureOrAccumulate(backPressureTimeout.isPositive() && backPressureTimeout.isFinite()) { "backPressureTimeout must be > 0 and finite, was $backPressureTimeout" }
                ensureOrAccumulate(!spin.isNegative() && spin.isFinite()) { "spin must be >= 0 and finite, was $spin" }
                ensureOrAccumulate(!closeTimeout.isNegative() && closeTimeout.isFinite()) { "closeTimeout must be >= 0 and finite, was $closeTimeout" }
                ensureOrAccumulate(startTimeout.isPositive() && startTimeout.isFinite()) { "startTimeout must be > 0 and finite, was $startTimeout" }
                nextLevel.forEachIndexed { i, c ->
                    if (c is NextLevelChild.Chip) {
                        ensureOrAccumulate(level == 3) { "nextLevel[$i] is a chip; chips belong to level-3 workers, this one is level $level" }
                        c.config.problems("chip $i").forEach { p -> ensureOrAccumulate(false) { p } }
                    }
                    ensureOrAccumulate(!(c is NextLevelChild.Nested && nextIsolation == Isolation.PROCESS)) {
                        "nextLevel[$i] is an existing Worker object, which cannot move into a child JVM; with " +
                            "nextIsolation = PROCESS describe it with NextLevelChild.Config(config) instead"
                    }
                    if (c is NextLevelChild.Config) {
                        ensureOrAccumulate(c.config.level == level - 1) {
                            "nextLevel[$i] describes a level-${c.config.level} worker; children of a level-$level worker are level ${level - 1}"
                        }
                        ensureOrAccumulate(runCatching { c.config.validate() }.isSuccess) {
                            "nextLevel[$i]: " + (runCatching { c.config.validate() }.exceptionOrNull()?.message ?: "")
                        }
                    }
                    if (c is NextLevelChild.Remote) {
                        ensureOrAccumulate(c.link.level == level - 1) {
                            "nextLevel[$i] is a level-${c.link.level} node at ${c.link.address}; children of a level-$level worker are level ${level - 1}"
                        }
                    }
                    if (c is NextLevelChild.Config && nextIsolation == Isolation.PROCESS) {
                        ensureOrAccumulate(c.config.nextLevel.none { it is NextLevelChild.Remote }) {
                            "nextLevel[$i] lists remote nodes, which cannot move into a child JVM; give this worker nextIsolation = THREAD"
                        }
                    }
                    if (c is NextLevelChild.Nested) {
                        ensureOrAccumulate(c.worker.level == level - 1) {
                            "nextLevel[$i] is a level-${c.worker.level} worker; children of a level-$level worker are level ${level - 1}"
                        }
                        ensureOrAccumulate(!c.worker.isClosed) { "nextLevel[$i] (${c.worker.path}) is already closed" }
                    }
                }
                ensureOrAccumulate(stallTimeout == null || (stallTimeout.isPositive() && stallTimeout.isFinite())) { "stallTimeout must be > 0 and finite, was $stallTimeout" }
                val chips = chipIndices.toSet()
                val names = domains.groupBy { it.name }.filterValues { it.size > 1 }.keys
                ensureOrAccumulate(names.isEmpty()) { "communication domain name(s) $names declared more than once" }
                for (d in domains) {
                    runCatching { d.validate(nextLevel.size) }.exceptionOrNull()?.let { e ->
                        (e as? InvalidConfigException)?.problems?.forEach { p -> ensureOrAccumulate(false) { p } }
                    }
                    val notChips = d.chips.filter { it in nextLevel.indices && it !in chips }
                    ensureOrAccumulate(notChips.isEmpty()) { "domain '${d.name}' names next-level children $notChips, which are not chips" }
                    val drivers = d.chips.filter { it in chips }.map { (nextLevel[it] as NextLevelChild.Chip).config.driver }.toSet()
                    ensureOrAccumulate(drivers.size <= 1) { "domain '${d.name}' mixes chip drivers $drivers; its members must share one" }
                }
                val nested = nextLevel.filterIsInstance<NextLevelChild.Nested>().map { it.worker }
                ensureOrAccumulate(nested.size == nested.toSet().size) { "the same nested worker appears twice in nextLevel" }
            }
        }.onLeft { throw InvalidConfigException(it) }
        return this
    }

    public companion object {
        /**
         * The system property that switches tracing on from outside a program (`-Dstrata.trace=FILE`): every
         * worker created in this JVM without its own [trace] then writes its timeline to FILE — the first one; later ones to FILE-2, FILE-3, … (before the extension).
         * `./strata script --trace FILE` sets it.
         */
        public const val TRACE_PROPERTY: String = TraceDefaults.PROPERTY

        /** Name of a level's children: `L4 node#1` is child 1 of a level-4 worker. */
        internal fun childKind(level: Int): String = when (level) {
            2 -> "core"
            3 -> "chip"
            4 -> "node"
            5 -> "pod"
            else -> "supernode"
        }
    }
}

/** Closes the links of this config's remote nodes (a worker that failed to start still owned them). */
internal fun WorkerConfig.closeRemoteLinks() {
    for (c in nextLevel) if (c is NextLevelChild.Remote) runCatching { c.link.close() }
}
