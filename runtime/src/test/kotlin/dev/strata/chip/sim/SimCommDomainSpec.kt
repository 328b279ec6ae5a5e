package dev.strata.chip.sim

import dev.strata.process.assertNoLeftovers
import dev.strata.error.CommunicationException
import dev.strata.error.ProtocolException
import dev.strata.testing.background
import io.kotest.assertions.throwables.shouldThrow
import io.kotest.core.spec.style.FunSpec
import io.kotest.matchers.shouldBe
import io.kotest.matchers.string.shouldContain
import java.lang.foreign.ValueLayout
import java.nio.file.Path
import java.nio.file.Paths
import java.util.concurrent.TimeUnit
import dev.strata.testing.getOrFail

private const val SECOND = 1_000_000_000L

/**
 * One rank of a domain in a child JVM: opens the domain named on the command line as rank 1 and runs
 * [SimCommDomainSpec]'s exchange for the given number of rounds.
 */
object CommDomainRank {
    @JvmStatic
    fun main(args: Array<String>) {
        SimCommDomain.open("test", Paths.get(args[0]), rank = args[1].toInt()).use { d -> exchange(d, args[2].toInt()) }
    }
}

/** Each round: write the round into your window, barrier, check every peer's window holds it, barrier. */
internal fun exchange(d: SimCommDomain, rounds: Int) {
    d.zeroOwnWindow()
    d.barrier(10 * SECOND)
    for (round in 1..rounds) {
        d.window(d.rank).set(ValueLayout.JAVA_LONG, 8L * d.rank, round * 1000L + d.rank)
        d.barrier(10 * SECOND)
        for (peer in 0 until d.ranks) {
            val seen = d.window(peer).get(ValueLayout.JAVA_LONG, 8L * peer)
            check(seen == round * 1000L + peer) { "rank ${d.rank} round $round saw $seen in rank $peer's window" }
        }
        d.barrier(10 * SECOND)
    }
}

class SimCommDomainSpec : FunSpec({
    afterEach { assertNoLeftovers() }

    test("windows are page-sized slices of one file; a peer's window is the same bytes seen from another rank") {
        SimCommDomain.create("d", ranks = 3, windowBytes = 100).use { r0 ->
            r0.windowBytes shouldBe 4096
            SimCommDomain.open("d", r0.path, rank = 2).use { r2 ->
                r2.window(2).set(ValueLayout.JAVA_INT, 40, 7)
                r0.window(2).get(ValueLayout.JAVA_INT, 40) shouldBe 7
                r0.window(1).get(ValueLayout.JAVA_INT, 40) shouldBe 0
                r2.window(2).fill(1)
                r2.zeroOwnWindow()
                r0.window(2).get(ValueLayout.JAVA_INT, 40) shouldBe 0
            }
        }
    }

    test("four threads exchange through their windows for 2,000 barrier rounds") {
        SimCommDomain.create("threads", ranks = 4, windowBytes = 64, spinNanos = 20_000).use { r0 ->
            val others = (1..3).map { r ->
                background("rank$r") { SimCommDomain.open("threads", r0.path, r, spinNanos = 20_000).use { exchange(it, 2_000) } }
            }
            exchange(r0, 2_000)
            others.forEach { it.getOrFail("a rank's exchange", kotlin.time.Duration.parse("60s")) }
        }
    }

    test("a rank that never arrives: the barrier times out, names the domain, and breaks it for every member") {
        SimCommDomain.create("lonely", ranks = 3, windowBytes = 64).use { r0 ->
            SimCommDomain.open("lonely", r0.path, rank = 1).use { r1 ->
                val waiting = background("rank1") { runCatching { r1.barrier(60 * SECOND) }.exceptionOrNull() }
                val e = shouldThrow<CommunicationException> { r0.barrier(300_000_000) }
                e.message!! shouldContain "communication domain 'lonely', rank 0"
                e.message!! shouldContain "2 of 3 ranks arrived"
                // The peer still waiting (with a far longer deadline) fails promptly too.
                val peer = waiting.getOrFail("the waiting peer to fail")
                (peer is CommunicationException) shouldBe true
                peer!!.message!! shouldContain "broken"
                r0.isBroken shouldBe true
                shouldThrow<CommunicationException> { r0.barrier(SECOND) }.message!! shouldContain "broken"
            }
        }
    }

    test("a file that is not a domain is refused with what is wrong") {
        val f = dev.strata.shm.SharedMemoryFile.create(8192, "comm")
        try {
            shouldThrow<ProtocolException> { SimCommDomain.open("x", f.path, 0) }.message!! shouldContain "magic is 0x0"
        } finally {
            f.close()
        }
    }

    test("a rank in a child JVM exchanges with this one through the shared file and its futex barrier") {
        SimCommDomain.create("procs", ranks = 2, windowBytes = 64).use { r0 ->
            val java = Path.of(System.getProperty("java.home"), "bin", "java").toString()
            val child = ProcessBuilder(
                java, "--enable-native-access=ALL-UNNAMED", "-cp", System.getProperty("java.class.path"),
                CommDomainRank::class.java.name, r0.path.toString(), "1", "500",
            ).redirectErrorStream(true).redirectOutput(ProcessBuilder.Redirect.DISCARD).start()
            try {
                exchange(r0, 500)
                child.waitFor(30, TimeUnit.SECONDS) shouldBe true
                child.exitValue() shouldBe 0
            } finally {
                if (child.isAlive) child.destroyForcibly().waitFor(10, TimeUnit.SECONDS)
            }
        }
    }
})
