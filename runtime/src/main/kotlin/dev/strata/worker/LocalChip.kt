package dev.strata.worker

import dev.strata.chip.ChipConfig
import dev.strata.chip.ChipEngine
import dev.strata.chip.ChipRuntime
import dev.strata.task.Runner
import dev.strata.trace.TraceRecorder

/**
 * Starts chip [index] in this JVM (a level-3 worker's in-process chip, or the chip a chip child JVM
 * hosts): the driver its config names and its cores as a level-2 [Worker] (domains come later, from the host). Throws
 * `ChipException` naming the step that failed, with whatever it opened closed again.
 */
internal fun startLocalChip(
    path: String,
    index: Int,
    config: ChipConfig,
    /** The host worker's trace, which the chip's cores record into (null: not traced). */
    trace: TraceRecorder? = null,
    /** Whether tasks' programs run on the caller of `execute`, who bounds them (a chip JVM's mailbox loop); see [ChipRuntime]. */
    programOnCaller: Boolean = false,
): ChipRuntime = ChipRuntime(path, index, config, { ChipDrivers.create(config.driver) }, { startCores(it, trace) }, programOnCaller).start()

/** The chip's level-2 engine: a worker whose next-level children are the chip's cores, each seeing the chip as `ctx.chip`. */
private fun startCores(chip: ChipRuntime, trace: TraceRecorder?): ChipEngine {
    val cores = Worker(
        WorkerConfig(
            level = 2, name = "L2", nextLevel = List(chip.config.coreCount) { NextLevelChild.Plain },
            stallTimeout = chip.config.effectiveStallTimeout,
        ),
        chip.view,
        trace,
        "${chip.path} cores",
    )
    return object : ChipEngine, Runner by cores, AutoCloseable by cores {}
}
