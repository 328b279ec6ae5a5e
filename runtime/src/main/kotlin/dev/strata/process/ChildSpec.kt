package dev.strata.process

import dev.strata.worker.Isolation
import dev.strata.worker.NextLevelChild
import dev.strata.worker.WorkerConfig
import kotlinx.serialization.Serializable
import kotlinx.serialization.json.Json
import java.util.Base64
import kotlin.time.Duration.Companion.milliseconds
import kotlin.time.Duration.Companion.nanoseconds

/** What a child JVM is told at launch (DESIGN.md §8): who it is, where its mailbox is, what to load. */
@Serializable
internal data class ChildSpec(
    /** Its path in errors, e.g. `L4 node#1`. */
    val path: String,
    /** `sub` or `next`. */
    val kind: String,
    val level: Int,
    val parentPid: Long,
    val mailbox: String,
    val doorbell: String,
    val spinNanos: Long,
    /** Callables to load before reporting ready, with the ids the parent will dispatch them by. */
    val callables: List<CallableEntry>,
    /** For a next-level child that is a whole worker: the worker it runs. */
    val worker: WorkerSpec? = null,
    /** For a chip: which chip, its configuration and its domains. */
    val chip: ChipChildSpec? = null,
) {
    fun encode(): String = Base64.getUrlEncoder().withoutPadding().encodeToString(JSON.encodeToString(serializer(), this).toByteArray())

    companion object {
        private val JSON = Json { encodeDefaults = true }
        fun decode(s: String): ChildSpec = JSON.decodeFromString(serializer(), String(Base64.getUrlDecoder().decode(s)))
    }
}

/** A chip child: its index among the parent's next-level children, its configuration, its domains. */
@Serializable
internal data class ChipChildSpec(
    val index: Int,
    val config: dev.strata.chip.ChipConfig,
    val domains: List<dev.strata.chip.DomainMembership>,
    /** The parent's start-up deadline, which bounds the domains' bring-up. */
    val startMillis: Long,
)

@Serializable
internal data class CallableEntry(val id: Int, val name: String)

/** A [WorkerConfig] that can cross a process boundary: nested children are described, callables named. */
@Serializable
internal data class WorkerSpec(
    val level: Int,
    val name: String,
    val subWorkers: Int,
    val subIsolation: Isolation,
    /** One entry per next-level child: null for a plain child, else the worker it is. */
    val nextLevel: List<WorkerSpec?>,
    val nextIsolation: Isolation,
    val taskWindow: Int,
    val heapRingBytes: Long,
    val backPressureMillis: Long,
    val spinNanos: Long,
    val closeMillis: Long,
    val startMillis: Long,
    val callables: List<String>,
    val childJvmOptions: List<String>,
    /** One entry per next-level child: its chip configuration when it is a chip. */
    val chips: List<dev.strata.chip.ChipConfig?> = emptyList(),
    val chipIsolation: Isolation = Isolation.PROCESS,
    val domains: List<dev.strata.chip.CommDomainSpec> = emptyList(),
    val stallMillis: Long? = null,
) {
    fun toConfig(): WorkerConfig = WorkerConfig(
        level = level, subWorkers = subWorkers,
        nextLevel = nextLevel.mapIndexed { i, w ->
            chips.getOrNull(i)?.let { NextLevelChild.Chip(it) } ?: w?.let { NextLevelChild.Config(it.toConfig()) } ?: NextLevelChild.Plain
        },
        taskWindow = taskWindow, heapRingBytes = heapRingBytes, backPressureTimeout = backPressureMillis.milliseconds,
        spin = spinNanos.nanoseconds, closeTimeout = closeMillis.milliseconds, name = name,
        subIsolation = subIsolation, nextIsolation = nextIsolation,
        callables = callables.map { Callables.resolve(it) }, startTimeout = startMillis.milliseconds,
        childJvmOptions = childJvmOptions, chipIsolation = chipIsolation, domains = domains,
        stallTimeout = stallMillis?.milliseconds,
    )

    companion object {
        /** Describes [c] for a child JVM; throws [dev.strata.run.InvalidCallableException] for an unnamed callable. */
        fun of(c: WorkerConfig): WorkerSpec = WorkerSpec(
            level = c.level, name = c.name, subWorkers = c.subWorkers, subIsolation = c.subIsolation,
            nextLevel = c.nextLevel.map {
                when (it) {
                    NextLevelChild.Plain, is NextLevelChild.Chip -> null
                    is NextLevelChild.Config -> of(it.config)
                    is NextLevelChild.Nested -> throw IllegalArgumentException(
                        "${c.name}: an existing Worker object cannot move into a child JVM; use NextLevelChild.Config",
                    )
                }
            },
            nextIsolation = c.nextIsolation, taskWindow = c.taskWindow, heapRingBytes = c.heapRingBytes,
            backPressureMillis = c.backPressureTimeout.inWholeMilliseconds, spinNanos = c.spin.inWholeNanoseconds,
            closeMillis = c.closeTimeout.inWholeMilliseconds, startMillis = c.startTimeout.inWholeMilliseconds,
            callables = c.callables.map { Callables.stableName(it) }, childJvmOptions = c.childJvmOptions,
            chips = c.nextLevel.map { (it as? NextLevelChild.Chip)?.config }, chipIsolation = c.chipIsolation,
            domains = c.domains, stallMillis = c.stallTimeout?.inWholeMilliseconds,
        )
    }
}
