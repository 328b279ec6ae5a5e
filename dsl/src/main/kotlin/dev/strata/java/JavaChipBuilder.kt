package dev.strata.java

import dev.strata.dsl.ChipBuilder
import java.time.Duration
import kotlin.time.toKotlinDuration

/**
 * The configuration of one chip, given to the `Consumer` of [JavaWorkerBuilder.chips]:
 * `chip -> chip.cores("aiv", 2).cores("aic", 1)`. Every setting has the default of
 * [dev.strata.chip.ChipConfig]; settings are checked when the worker starts. Each method returns this builder.
 */
public class JavaChipBuilder internal constructor(private val chip: ChipBuilder) {
    /** The driver: `sim` (the simulated chip, the default) or a [dev.strata.chip.ChipDriverFactory] class name. */
    public fun driver(driver: String): JavaChipBuilder = apply { chip.driver = driver }

    /** Adds [count] cores of [type] (e.g. `aiv`, `aic`); without any call a chip has 2 `aiv` cores. */
    public fun cores(type: String, count: Int): JavaChipBuilder = apply { chip.cores(type, count) }

    /** Device memory of a simulated chip (default 1 GiB). */
    public fun deviceMemoryBytes(bytes: Long): JavaChipBuilder = apply { chip.deviceMemoryBytes = bytes }

    /** How long one chip task may take before `synchronize` gives up and the chip becomes unusable (default 60 s). */
    public fun syncTimeout(timeout: Duration): JavaChipBuilder = apply { chip.syncTimeout = timeout.toKotlinDuration() }

    /** Bound of every communication wait: domain bring-up, kernel barriers (default 10 s). */
    public fun commTimeout(timeout: Duration): JavaChipBuilder = apply { chip.commTimeout = timeout.toKotlinDuration() }

    /** The chip's stall watchdog budget (default: `STRATA_SCHEDULER_TIMEOUT_MS`, else 10 s). */
    public fun stallTimeout(timeout: Duration): JavaChipBuilder = apply { chip.stallTimeout = timeout.toKotlinDuration() }

    /** Extra start-up time of a simulated chip (to test start-up skew). */
    public fun simInitDelay(delay: Duration): JavaChipBuilder = apply { chip.simInitDelay = delay.toKotlinDuration() }
}
