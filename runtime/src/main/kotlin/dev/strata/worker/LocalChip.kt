package dev.strata.worker

import dev.strata.chip.ChipConfig
import dev.strata.chip.ChipEngine
import dev.strata.chip.ChipRuntime
import dev.strata.chip.DomainMembership
import dev.strata.task.Runner
import kotlin.time.Duration

/**
 * Starts chip [index] in this JVM (a level-3 worker's in-process chip, or the chip a chip child JVM
 * hosts): the driver its config names, its cores as a level-2 [Worker], then its domains. Throws
 * `ChipException` naming the step that failed, with whatever it opened closed again.
 */
internal fun startLocalChip(
    path: String,
    index: Int,
    config: ChipConfig,
    memberships: List<DomainMembership>,
    bringUpTimeout: Duration,
): ChipRuntime = ChipRuntime(path, index, config, memberships, bringUpTimeout, { ChipDrivers.create(config.driver) }, ::startCores).start()

/** The chip's level-2 engine: a worker whose next-level children are the chip's cores, each seeing the chip as `ctx.chip`. */
private fun startCores(chip: ChipRuntime): ChipEngine {
    val cores = Worker(
        WorkerConfig(
            level = 2, name = "L2", nextLevel = List(chip.config.coreCount) { NextLevelChild.Plain },
            stallTimeout = chip.config.effectiveStallTimeout,
        ),
        chip.view,
    )
    return object : ChipEngine, Runner by cores, AutoCloseable by cores {}
}
