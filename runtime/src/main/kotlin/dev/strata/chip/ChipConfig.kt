package dev.strata.chip

import arrow.core.raise.accumulate
import arrow.core.raise.either
import dev.strata.error.InvalidConfigException
import dev.strata.task.CoreGroup
import kotlinx.serialization.Serializable
import kotlin.time.Duration
import kotlin.time.Duration.Companion.milliseconds
import kotlin.time.Duration.Companion.seconds

/**
 * One chip of a level-3 worker (DESIGN.md §9): which device, which driver, its cores, and its timeouts.
 *
 * @property deviceId the device the driver opens.
 * @property driver `sim` (the pure-JVM simulated chip, the default), `acl` (Ascend through ACL/HCCL: a
 *   CANN install, or the emulator; docs/hardware.md), or the class name of a [ChipDriverFactory] (an
 *   `object` or a class with a no-arg constructor).
 * @property cores the chip's cores, by type; they are the chip's level-2 workers, addressed in order
 *   (`core(0)` is the first core of the first group).
 * @property deviceMemoryBytes device memory of a simulated chip (a real device has what it has).
 * @property syncTimeout how long one chip task may take before `synchronize` gives up; the chip is then
 *   unusable. Keep it above [stallTimeout] so the level-2 watchdog, which says why, fires first.
 * @property commTimeout bound of every communication wait (domain bring-up, kernel barriers).
 * @property stallTimeout the level-2 stall watchdog's no-progress budget; null means the environment
 *   variable `STRATA_SCHEDULER_TIMEOUT_MS`, else 10 s.
 * @property simInitDelay a simulated chip's extra start-up time (to test start-up skew).
 */
@Serializable
public data class ChipConfig(
    val deviceId: Int,
    val driver: String = SIM,
    val cores: List<CoreGroup> = listOf(CoreGroup("aiv", 2)),
    val deviceMemoryBytes: Long = 1L shl 30,
    val syncTimeout: Duration = 60.seconds,
    val commTimeout: Duration = 10.seconds,
    val stallTimeout: Duration? = null,
    val simInitDelay: Duration = Duration.ZERO,
) {
    /** Number of cores. */
    public val coreCount: Int get() = cores.sumOf { it.count }

    /** The stall budget in effect: [stallTimeout], else `STRATA_SCHEDULER_TIMEOUT_MS`, else 10 s. */
    public val effectiveStallTimeout: Duration
        get() = stallTimeout ?: System.getenv(STALL_ENV)?.toLongOrNull()?.takeIf { it > 0 }?.milliseconds ?: DEFAULT_STALL

    /** Every problem of this chip's configuration (empty when valid); [where] prefixes each. */
    internal fun problems(where: String): List<String> = either {
        accumulate {
            ensureOrAccumulate(deviceId >= 0) { "$where: deviceId must be >= 0, was $deviceId" }
            ensureOrAccumulate(driver.isNotBlank()) { "$where: driver must be 'sim', 'acl' or a ChipDriverFactory class name" }
            ensureOrAccumulate(cores.isNotEmpty() && cores.all { it.count > 0 }) {
                "$where: needs at least one core and every core group a count > 0, was $cores"
            }
            ensureOrAccumulate(coreCount <= 64) { "$where: at most 64 cores, was $coreCount" }
            ensureOrAccumulate(deviceMemoryBytes > 0) { "$where: deviceMemoryBytes must be > 0, was $deviceMemoryBytes" }
            ensureOrAccumulate(syncTimeout.isPositive() && syncTimeout.isFinite()) { "$where: syncTimeout must be > 0 and finite, was $syncTimeout" }
            ensureOrAccumulate(commTimeout.isPositive() && commTimeout.isFinite()) { "$where: commTimeout must be > 0 and finite, was $commTimeout" }
            ensureOrAccumulate(stallTimeout == null || (stallTimeout.isPositive() && stallTimeout.isFinite())) { "$where: stallTimeout must be > 0 and finite, was $stallTimeout" }
            ensureOrAccumulate(!simInitDelay.isNegative() && simInitDelay.isFinite()) { "$where: simInitDelay must be >= 0 and finite, was $simInitDelay" }
        }
    }.fold({ it.toList() }, { emptyList() })

    /** Throws [InvalidConfigException] listing every problem, or returns this config. */
    public fun validate(): ChipConfig {
        val p = problems("chip")
        if (p.isNotEmpty()) throw InvalidConfigException(p)
        return this
    }

    public companion object {
        /** The simulated chip's driver name. */
        public const val SIM: String = "sim"

        /** The Ascend driver's name: ACL and HCCL through `native-bindings` (real CANN, or the emulator; docs/hardware.md). */
        public const val ACL: String = "acl"

        /** The environment variable that sets the default stall budget, in milliseconds. */
        public const val STALL_ENV: String = "STRATA_SCHEDULER_TIMEOUT_MS"

        /** The stall budget when neither the config nor the environment sets one. */
        public val DEFAULT_STALL: Duration = 10.seconds
    }
}
