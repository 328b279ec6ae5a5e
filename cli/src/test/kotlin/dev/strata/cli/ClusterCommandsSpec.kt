package dev.strata.cli

import com.github.ajalt.clikt.core.ProgramResult
import com.github.ajalt.clikt.core.parse
import dev.strata.cluster.ClusterNode
import dev.strata.process.assertNoLeftovers
import io.kotest.core.spec.style.FunSpec
import io.kotest.matchers.shouldBe
import io.kotest.matchers.string.shouldContain
import java.io.ByteArrayOutputStream
import java.io.PrintStream
import java.util.concurrent.CompletableFuture
import java.util.concurrent.TimeUnit

/** `strata node` and `strata doctor --cluster` on loopback, in this JVM. */
class ClusterCommandsSpec : FunSpec({
    afterSpec { assertNoLeftovers("ClusterCommandsSpec") }

    test("strata node --seed serves until stopped; doctor --cluster lists it and a joined node with their workers") {
        val out = ByteArrayOutputStream()
        val console = Console(PrintStream(out, true, Charsets.UTF_8), PrintStream(out, true, Charsets.UTF_8), color = false)
        val started = CompletableFuture<ClusterNode>()
        val command = Thread {
            runCatching { NodeCommand(console, emptyMap()) { started.complete(it) }.parse(listOf("--seed", "--sub-workers", "3")) }
                .onFailure { started.completeExceptionally(it) }
        }.apply { isDaemon = true; start() }
        val seed = started.get(60, TimeUnit.SECONDS)
        try {
            out.toString(Charsets.UTF_8) shouldContain "strata node: ${seed.address} is Up (a new cluster); 3 sub workers, 0 chips"
            ClusterNode.start(dev.strata.cluster.NodeSettings(seeds = listOf(seed.hostPort)), ClusterNode.nodeWorker(1, 1)).use { joined ->
                val doctorOut = ByteArrayOutputStream()
                val status = StrataCli.run(listOf("doctor", "--cluster", seed.hostPort), Console(PrintStream(doctorOut, true, Charsets.UTF_8), PrintStream(doctorOut, true, Charsets.UTF_8), color = false))
                val text = doctorOut.toString(Charsets.UTF_8)
                text shouldContain "${seed.address}  roles l3  Up  level 3, 3 sub workers, 0 chips"
                text shouldContain "${joined.address}  roles l3  Up  level 3, 1 sub workers, 1 chips (sim)"
                text shouldContain "2 member(s) Up and reachable"
                status shouldBe 0
            }
        } finally {
            seed.close()
        }
        command.join(15_000)
        command.isAlive shouldBe false // the command returned once its node stopped
    }

    test("strata node needs exactly one of --seed and --join; doctor --cluster on nobody fails naming the seed") {
        val out = ByteArrayOutputStream()
        val console = Console(PrintStream(out, true, Charsets.UTF_8), PrintStream(out, true, Charsets.UTF_8), color = false)
        val status = runCatching { NodeCommand(console, emptyMap()).parse(emptyList()) }.exceptionOrNull() as ProgramResult
        status.statusCode shouldBe 2
        out.toString(Charsets.UTF_8) shouldContain "give exactly one of --seed and --join HOST:PORT"
        val badDriver = StrataCli.run(listOf("node", "--seed", "--driver", "cuda"), Console(PrintStream(out, true, Charsets.UTF_8), PrintStream(out, true, Charsets.UTF_8), color = false))
        badDriver shouldBe 2
        out.toString(Charsets.UTF_8) shouldContain "invalid choice: cuda. (choose from sim, acl)"
        val free = java.net.ServerSocket(0).use { it.localPort }
        val doctorOut = ByteArrayOutputStream()
        val code = StrataCli.run(listOf("doctor", "--cluster", "127.0.0.1:$free", "--cluster-timeout", "3"), Console(PrintStream(doctorOut, true, Charsets.UTF_8), PrintStream(doctorOut, true, Charsets.UTF_8), color = false))
        code shouldBe 1
        doctorOut.toString(Charsets.UTF_8) shouldContain "127.0.0.1:$free"
    }
})

/** `strata node` under a launcher: the rank and host environment decide seed and join. */
class LaunchedNodeSpec : FunSpec({
    afterSpec { assertNoLeftovers("LaunchedNodeSpec") }

    fun start(env: Map<String, String>): Pair<CompletableFuture<ClusterNode>, ByteArrayOutputStream> {
        val out = ByteArrayOutputStream()
        val console = Console(PrintStream(out, true, Charsets.UTF_8), PrintStream(out, true, Charsets.UTF_8), color = false)
        val started = CompletableFuture<ClusterNode>()
        Thread {
            runCatching { NodeCommand(console, env) { started.complete(it) }.parse(listOf("--sub-workers", "1")) }
                .onFailure { started.completeExceptionally(it) }
        }.apply { isDaemon = true; start() }
        return started to out
    }

    test("srun-style environment: rank 0 is the seed on the first host of the node list, rank 1 joins it") {
        val port = java.net.ServerSocket(0).use { it.localPort }
        val slurm = mapOf("SLURM_NTASKS" to "2", "SLURM_JOB_NODELIST" to "127.0.0.1", "STRATA_SEED_PORT" to "$port")
        val (f0, out0) = start(slurm + ("SLURM_PROCID" to "0"))
        val rank0 = f0.get(60, TimeUnit.SECONDS)
        try {
            rank0.hostPort shouldBe "127.0.0.1:$port"
            out0.toString(Charsets.UTF_8) shouldContain "(slurm rank 0 of 2, the seed of a new cluster)"
            val (f1, out1) = start(slurm + ("SLURM_PROCID" to "1"))
            val rank1 = f1.get(60, TimeUnit.SECONDS)
            try {
                out1.toString(Charsets.UTF_8) shouldContain "(slurm rank 1 of 2, joined 127.0.0.1:$port)"
                dev.strata.cluster.ClusterProbe.members(rank0.hostPort, timeout = kotlin.time.Duration.parse("20s")).size shouldBe 2
            } finally {
                rank1.close()
            }
        } finally {
            rank0.close()
        }
    }

    test("mpirun without STRATA_SEED_HOST is a usage error naming the variable") {
        val out = ByteArrayOutputStream()
        val console = Console(PrintStream(out, true, Charsets.UTF_8), PrintStream(out, true, Charsets.UTF_8), color = false)
        val e = runCatching { NodeCommand(console, mapOf("OMPI_COMM_WORLD_RANK" to "1")).parse(emptyList()) }.exceptionOrNull() as ProgramResult
        e.statusCode shouldBe 2
        out.toString(Charsets.UTF_8) shouldContain "openmpi rank 1: the environment does not name the seed's host; set STRATA_SEED_HOST"
    }
})
