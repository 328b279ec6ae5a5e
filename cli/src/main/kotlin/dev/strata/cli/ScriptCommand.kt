package dev.strata.cli

import com.github.ajalt.clikt.core.CliktCommand
import com.github.ajalt.clikt.core.Context
import com.github.ajalt.clikt.core.ProgramResult
import com.github.ajalt.clikt.parameters.arguments.argument
import com.github.ajalt.clikt.parameters.arguments.multiple
import com.github.ajalt.clikt.parameters.arguments.optional
import com.github.ajalt.clikt.parameters.options.option
import com.github.ajalt.clikt.parameters.types.path
import dev.strata.worker.WorkerConfig
import java.io.File

/**
 * `strata script <file.main.kts> [args…]`: compiles and runs a Kotlin script with Strata on the classpath
 * ([ScriptHost]). Exit status: 0 when the script ran to its end, 1 when it threw (the error is printed),
 * [COMPILE_FAILED] when it did not compile, [StrataCli.UNKNOWN_NAME] when the file is missing. A script
 * may also end the process itself with `exitProcess(status)`.
 */
internal class ScriptCommand(
    private val console: Console,
    private val host: () -> ScriptHost = ::ScriptHost,
) : CliktCommand("script") {
    init {
        configureContext { allowInterspersedArgs = false }
    }

    private val trace by option("--trace", metavar = "OUT", help = "write a timeline of the script's runs to OUT (trace-event JSON; a second worker writes OUT-2, …)")
        .path(canBeDir = false)
    private val file by argument(name = "FILE", help = "the script, e.g. samples/scripts/pipeline.main.kts").optional()
    private val args by argument(name = "ARGS", help = "arguments passed to the script as `args`").multiple()

    override fun help(context: Context): String =
        "Run a Kotlin script (*.main.kts) with Strata on the classpath; the first run compiles it (a few seconds)."

    override fun run() {
        val path = file ?: missing("which script? Usage: strata script <file.main.kts> [args...]")
        val script = File(path)
        if (!script.isFile) missing("no script at '$path' (working directory ${File("").absolutePath})")
        if (!script.name.endsWith(".kts")) missing("'$path' is not a Kotlin script: name it <something>.main.kts")
        val saved = System.getProperty(WorkerConfig.TRACE_PROPERTY)
        trace?.let { System.setProperty(WorkerConfig.TRACE_PROPERTY, it.toString()) } // every worker the script starts traces itself
        val outcome = try {
            host().run(script, args, console.out)
        } finally {
            if (saved == null) System.clearProperty(WorkerConfig.TRACE_PROPERTY) else System.setProperty(WorkerConfig.TRACE_PROPERTY, saved)
        }
        when (outcome) {
            ScriptHost.Outcome.Completed -> console.out.flush()
            is ScriptHost.Outcome.CompileFailed -> {
                console.out.flush()
                console.err.println("strata script: ${script.path} does not compile:")
                outcome.diagnostics.forEach { console.err.println("  $it") }
                throw ProgramResult(COMPILE_FAILED)
            }
            is ScriptHost.Outcome.Threw -> {
                console.out.flush()
                val e = outcome.error
                console.err.println("strata script: ${script.path} failed with ${e::class.qualifiedName}: ${e.message}")
                e.printStackTrace(console.err)
                throw ProgramResult(1)
            }
        }
    }

    private fun missing(message: String): Nothing {
        console.err.println("strata script: $message")
        throw ProgramResult(StrataCli.UNKNOWN_NAME)
    }

    companion object {
        /** Exit status of a script that does not compile. */
        const val COMPILE_FAILED: Int = 3
    }
}
