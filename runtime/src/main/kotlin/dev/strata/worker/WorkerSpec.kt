package dev.strata.worker

import dev.strata.chip.ChipConfig
import dev.strata.chip.CommDomainSpec
import dev.strata.process.CallableNames
import kotlinx.serialization.Serializable
import kotlinx.serialization.json.Json
import kotlinx.serialization.json.JsonElement
import kotlin.time.Duration.Companion.milliseconds
import kotlin.time.Duration.Companion.nanoseconds

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
    val chips: List<ChipConfig?> = emptyList(),
    val chipIsolation: Isolation = Isolation.PROCESS,
    val domains: List<CommDomainSpec> = emptyList(),
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
        callables = callables.map { CallableNames.resolve(it) }, startTimeout = startMillis.milliseconds,
        childJvmOptions = childJvmOptions, chipIsolation = chipIsolation, domains = domains,
        stallTimeout = stallMillis?.milliseconds,
    )

    /** This spec as the opaque JSON a `ChildSpec` carries to the child JVM. */
    fun toJson(): JsonElement = Json.encodeToJsonElement(serializer(), this)

    companion object {
        /** The spec [toJson] encoded. */
        fun fromJson(json: JsonElement): WorkerSpec = Json.decodeFromJsonElement(serializer(), json)

        /** Describes [c] for a child JVM; throws [dev.strata.error.InvalidCallableException] for an unnamed callable. */
        fun of(c: WorkerConfig): WorkerSpec = WorkerSpec(
            level = c.level, name = c.name, subWorkers = c.subWorkers, subIsolation = c.subIsolation,
            nextLevel = c.nextLevel.map {
                when (it) {
                    NextLevelChild.Plain, is NextLevelChild.Chip -> null
                    is NextLevelChild.Remote -> throw IllegalArgumentException(
                        "${c.name}: remote node ${it.link.address} cannot move into a child JVM; keep its worker in this JVM",
                    )
                    is NextLevelChild.Config -> of(it.config)
                    is NextLevelChild.Nested -> throw IllegalArgumentException(
                        "${c.name}: an existing Worker object cannot move into a child JVM; use NextLevelChild.Config",
                    )
                }
            },
            nextIsolation = c.nextIsolation, taskWindow = c.taskWindow, heapRingBytes = c.heapRingBytes,
            backPressureMillis = c.backPressureTimeout.inWholeMilliseconds, spinNanos = c.spin.inWholeNanoseconds,
            closeMillis = c.closeTimeout.inWholeMilliseconds, startMillis = c.startTimeout.inWholeMilliseconds,
            callables = c.callables.map { CallableNames.stableName(it) }, childJvmOptions = c.childJvmOptions,
            chips = c.nextLevel.map { (it as? NextLevelChild.Chip)?.config }, chipIsolation = c.chipIsolation,
            domains = c.domains, stallMillis = c.stallTimeout?.inWholeMilliseconds,
        )
    }
}
