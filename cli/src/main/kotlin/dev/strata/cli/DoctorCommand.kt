package dev.strata.cli

import com.github.ajalt.clikt.core.CliktCommand
import com.github.ajalt.clikt.core.Context
import com.github.ajalt.clikt.core.ProgramResult
import com.github.ajalt.clikt.parameters.options.default
import com.github.ajalt.clikt.parameters.options.option
import com.github.ajalt.clikt.parameters.types.int
import com.github.ajalt.clikt.parameters.types.restrictTo
import kotlin.time.Duration.Companion.seconds
import dev.strata.cluster.ClusterProbe

/** `strata doctor`: prints [Doctor]'s checks, one per line; exits 1 if any required check failed. */
internal class DoctorCommand(private val console: Console, private val doctor: Doctor) : CliktCommand("doctor") {
    override fun help(context: Context): String =
        "Check the JDK, OS, cores, memory, /dev/shm, FFM native access and chip drivers; with --cluster, list a cluster's members."

    private val cluster by option("--cluster", metavar = "HOST:PORT", help = "list the members of the cluster a member at HOST:PORT belongs to")
    private val clusterTimeout by option("--cluster-timeout", metavar = "SECONDS", help = "how long --cluster waits to join and for answers (default 20)")
        .int().restrictTo(1..600).default(20)

    override fun run() {
        cluster?.let { return cluster(it) }
        val checks = doctor.checks()
        val width = checks.maxOf { it.name.length }
        console.out.println("strata doctor")
        for (c in checks) {
            val tone = when (c.status) {
                CheckStatus.OK -> Console.Tone.GOOD
                CheckStatus.INFO -> Console.Tone.NEUTRAL
                CheckStatus.WARN -> Console.Tone.WARNING
                CheckStatus.FAIL -> Console.Tone.BAD
            }
            console.out.println("  ${console.styled(c.status.name.padEnd(4), tone)}  ${c.name.padEnd(width)}  ${c.detail}")
        }
        val failed = checks.filter { it.status == CheckStatus.FAIL }
        if (failed.isEmpty()) {
            console.out.println(console.styled("all required checks passed", Console.Tone.GOOD))
        } else {
            console.out.println(
                console.styled("${failed.size} required check(s) failed: ${failed.joinToString { it.name }}", Console.Tone.BAD),
            )
            throw ProgramResult(1)
        }
    }

    /** Joins the cluster at [seed] as an observer, prints every member, and exits 1 if one is unreachable or none answers. */
    private fun cluster(seed: String) {
        console.out.println("strata doctor --cluster $seed")
        val members = try {
            ClusterProbe.members(seed, clusterTimeout.seconds)
        } catch (e: Exception) {
            console.out.println("  ${console.styled("FAIL", Console.Tone.BAD)}  ${e.message}")
            throw ProgramResult(1)
        }
        for (m in members) {
            val ok = m.reachable && m.status == "Up"
            val what = m.node?.let { n -> "level ${n.level}, ${n.subWorkers} sub workers, ${n.chipDrivers.size} chips${n.chipDrivers.distinct().joinToString(prefix = " (", postfix = ")").takeIf { n.chipDrivers.isNotEmpty() } ?: ""}" }
                ?: if (m.roles.contains("l3")) "did not describe itself" else "no node"
            console.out.println(
                "  ${console.styled((if (ok) "OK" else "FAIL").padEnd(4), if (ok) Console.Tone.GOOD else Console.Tone.BAD)}  ${m.address}  " +
                    "roles ${m.roles.sorted().joinToString(",")}  ${m.status}${if (m.reachable) "" else ", UNREACHABLE"}  $what",
            )
        }
        val bad = members.count { !it.reachable || it.status != "Up" }
        if (members.isEmpty() || bad > 0) {
            console.out.println(console.styled(if (members.isEmpty()) "no members found" else "$bad member(s) not Up and reachable", Console.Tone.BAD))
            throw ProgramResult(1)
        }
        console.out.println(console.styled("${members.size} member(s) Up and reachable", Console.Tone.GOOD))
    }
}
