package dev.strata.chip

import dev.strata.error.InvalidConfigException
import dev.strata.worker.NextLevelChild
import dev.strata.worker.Worker
import dev.strata.worker.WorkerConfig
import io.kotest.assertions.throwables.shouldThrow
import io.kotest.core.spec.style.FunSpec
import io.kotest.matchers.shouldBe
import io.kotest.matchers.string.shouldContain
import kotlin.time.Duration
import kotlin.time.Duration.Companion.milliseconds
import kotlin.time.Duration.Companion.seconds

class ChipConfigSpec : FunSpec({
    test("the stall budget: the config's, else STRATA_SCHEDULER_TIMEOUT_MS, else 10 s") {
        ChipConfig(0, stallTimeout = 250.milliseconds).effectiveStallTimeout shouldBe 250.milliseconds
        val env = System.getenv(ChipConfig.STALL_ENV)?.toLongOrNull()?.takeIf { it > 0 }
        ChipConfig(0).effectiveStallTimeout shouldBe (env?.milliseconds ?: 10.seconds)
    }

    test("every problem of a chip's configuration is reported at once, naming the chip") {
        val e = shouldThrow<InvalidConfigException> {
            Worker(
                WorkerConfig(
                    level = 3,
                    nextLevel = listOf(
                        NextLevelChild.Chip(ChipConfig(0)),
                        NextLevelChild.Chip(ChipConfig(-1, cores = emptyList(), syncTimeout = Duration.ZERO, stallTimeout = (-1).seconds)),
                    ),
                ),
            )
        }
        e.problems.size shouldBe 4
        e.message shouldContain "chip 1: deviceId must be >= 0"
        e.message shouldContain "chip 1: needs at least one core"
        e.message shouldContain "chip 1: syncTimeout must be > 0"
        e.message shouldContain "chip 1: stallTimeout must be > 0"
    }

    test("chips belong to level-3 workers") {
        shouldThrow<InvalidConfigException> { Worker(WorkerConfig(level = 4, nextLevel = listOf(NextLevelChild.Chip(ChipConfig(0))))) }
            .message shouldContain "chips belong to level-3 workers"
    }
})
