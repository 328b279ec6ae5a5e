package dev.strata.cli.picture

import java.util.concurrent.TimeUnit
import kotlin.time.Duration

/**
 * Graphviz `dot` as a renderer of DOT text to SVG, for `strata graph --format svg` and notebooks. Every
 * wait is bounded: `dot` is killed when it has not finished within the timeout.
 */
internal object Graphviz {
    /** What a rendering gave. */
    sealed interface Result {
        /** The picture. */
        data class Svg(val text: String) : Result

        /** [command] could not be started: Graphviz is not installed (or not on PATH). */
        data class Missing(val command: String) : Result

        /** `dot` ran and failed ([why]: its status and stderr), or did not finish in time. */
        data class Failed(val why: String, val timedOut: Boolean) : Result
    }

    /** Renders [dot] with [command] `-Tsvg`, waiting at most [timeout]. */
    fun render(dot: String, command: String = "dot", timeout: Duration): Result {
        val p = try {
            ProcessBuilder(command, "-Tsvg").start()
        } catch (_: java.io.IOException) {
            return Result.Missing(command)
        }
        try {
            val out = StringBuilder()
            val errors = StringBuilder()
            val readers = listOf(
                Thread { out.append(p.inputStream.bufferedReader().readText()) },
                Thread { errors.append(p.errorStream.bufferedReader().readText()) }, // drained, so dot never blocks on it
            ).onEach { it.isDaemon = true; it.start() }
            try {
                p.outputStream.use { it.write(dot.toByteArray()) }
            } catch (_: java.io.IOException) {
                // dot exited early; its status and stderr say why
            }
            if (!p.waitFor(timeout.inWholeMilliseconds, TimeUnit.MILLISECONDS)) return Result.Failed("it did not finish within $timeout", timedOut = true)
            readers.forEach { it.join(5_000) }
            if (p.exitValue() != 0) return Result.Failed("'$command -Tsvg' failed (exit ${p.exitValue()}): ${errors.toString().trim()}", timedOut = false)
            return Result.Svg(out.toString())
        } finally {
            if (p.isAlive) {
                p.destroyForcibly()
                p.waitFor(5, TimeUnit.SECONDS)
            }
        }
    }
}
