package dev.strata.cli

import com.github.ajalt.clikt.core.CliktCommand
import com.github.ajalt.clikt.core.Context
import com.github.ajalt.clikt.core.ProgramResult

/** `strata doctor`: prints [Doctor]'s checks, one per line; exits 1 if any required check failed. */
internal class DoctorCommand(private val console: Console, private val doctor: Doctor) : CliktCommand("doctor") {
    override fun help(context: Context): String =
        "Check the JDK, OS, cores, memory, /dev/shm, FFM native access and chip drivers."

    override fun run() {
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
}
