package dev.strata.cluster

import io.kotest.assertions.throwables.shouldThrow
import io.kotest.core.spec.style.FunSpec
import io.kotest.matchers.shouldBe
import io.kotest.matchers.string.shouldContain

class LaunchEnvironmentSpec : FunSpec({
    test("Slurm: rank, size and the first host of the job's node list; the seed port defaults") {
        val l = LaunchEnvironment.detect(mapOf("SLURM_PROCID" to "3", "SLURM_NTASKS" to "8", "SLURM_JOB_NODELIST" to "gpu[07-10,12],cpu1"))!!
        l shouldBe Launch("slurm", 3, 8, "gpu07", LaunchEnvironment.DEFAULT_SEED_PORT)
        l.seed shouldBe "gpu07:25520"
    }

    test("Open MPI and MPICH give a rank but no host: STRATA_SEED_HOST and STRATA_SEED_PORT name the seed") {
        LaunchEnvironment.detect(mapOf("OMPI_COMM_WORLD_RANK" to "1", "OMPI_COMM_WORLD_SIZE" to "2"))!!.seed shouldBe null
        LaunchEnvironment.detect(mapOf("PMI_RANK" to "0", "PMI_SIZE" to "4", "STRATA_SEED_HOST" to "h0", "STRATA_SEED_PORT" to "4000"))!! shouldBe
            Launch("pmi", 0, 4, "h0", 4000)
        LaunchEnvironment.detect(mapOf("STRATA_RANK" to "2", "STRATA_SEED_HOST" to "10.0.0.1"))!!.seed shouldBe "10.0.0.1:25520"
        LaunchEnvironment.detect(emptyMap()) shouldBe null
    }

    test("host lists and malformed variables") {
        LaunchEnvironment.firstHost("node1") shouldBe "node1"
        LaunchEnvironment.firstHost("a,b[1-2]") shouldBe "a"
        LaunchEnvironment.firstHost("rack[3-4]-n[1-2]") shouldBe "rack3-n1"
        shouldThrow<IllegalArgumentException> { LaunchEnvironment.detect(mapOf("SLURM_PROCID" to "x")) }.message shouldContain "SLURM_PROCID='x'"
        shouldThrow<IllegalArgumentException> { LaunchEnvironment.detect(mapOf("STRATA_RANK" to "0", "STRATA_SEED_PORT" to "70000")) }.message shouldContain "STRATA_SEED_PORT"
        shouldThrow<IllegalArgumentException> { LaunchEnvironment.firstHost("n[1-2") }.message shouldContain "unclosed"
    }
})
