package dev.strata.cli.notebook

import kotlinx.coroutines.runBlocking
import org.jetbrains.kotlin.scripting.compiler.plugin.impl.KJvmReplCompilerBase
import org.jetbrains.kotlin.scripting.compiler.plugin.repl.ReplCodeAnalyzerBase
import java.io.File
import kotlin.script.experimental.api.ResultValue
import kotlin.script.experimental.api.ResultWithDiagnostics
import kotlin.script.experimental.api.ScriptCompilationConfiguration
import kotlin.script.experimental.api.ScriptDiagnostic
import kotlin.script.experimental.api.ScriptEvaluationConfiguration
import kotlin.script.experimental.api.defaultImports
import kotlin.script.experimental.host.toScriptSource
import kotlin.script.experimental.jvm.BasicJvmReplEvaluator
import kotlin.script.experimental.jvm.baseClassLoader
import kotlin.script.experimental.jvm.jvm
import kotlin.script.experimental.jvm.jvmTarget
import kotlin.script.experimental.jvm.updateClasspath

/**
 * A Kotlin 2.4 REPL over the embedded compiler: every [eval] compiles one snippet against [classpath]
 * and the snippets before it (their declarations stay visible), then runs it. Snippet classes live in
 * memory (`Line_<n>`), which is why callables declared in a cell run only on threads (a child JVM cannot
 * load them; Strata says so at submit).
 */
internal class KotlinRepl(classpath: List<File>, private val loader: ClassLoader, imports: List<String> = DEFAULT_IMPORTS) {
    /** How one snippet ended. */
    sealed interface Outcome {
        /** It ran; [value] is its last expression's value, or null for a statement or `Unit`. */
        data class Value(val value: Any?) : Outcome

        /** It did not compile: [errors], one per line with its line and column. */
        data class CompileFailed(val errors: List<String>) : Outcome

        /** It threw [error]. */
        data class Threw(val error: Throwable) : Outcome
    }

    private val compiler = KJvmReplCompilerBase<ReplCodeAnalyzerBase>()
    private val evaluator = BasicJvmReplEvaluator()
    private val compilation = ScriptCompilationConfiguration {
        defaultImports(imports)
        jvm {
            updateClasspath(classpath)
            // Strata's inline functions are JVM 25 bytecode, which a snippet can inline only at the same target.
            jvmTarget(JVM_TARGET)
        }
    }
    private val evaluation = ScriptEvaluationConfiguration { jvm { baseClassLoader(loader) } }
    private var line = 0

    /** Compiles and runs [code] (one cell). */
    fun eval(code: String): Outcome = runBlocking {
        val name = "Line_${line++}"
        val compiled = when (val c = compiler.compile(listOf(code.toScriptSource("$name.kts")), compilation)) {
            is ResultWithDiagnostics.Failure -> return@runBlocking Outcome.CompileFailed(c.reports.errors(name))
            is ResultWithDiagnostics.Success -> c.value
        }
        when (val e = evaluator.eval(compiled, evaluation)) {
            is ResultWithDiagnostics.Failure -> e.reports.firstNotNullOfOrNull { it.exception }?.let { Outcome.Threw(it) }
                ?: Outcome.CompileFailed(e.reports.errors(name).ifEmpty { listOf("$name: did not run") })
            is ResultWithDiagnostics.Success -> when (val r = e.value.get().result) {
                is ResultValue.Value -> Outcome.Value(r.value?.takeUnless { it === Unit })
                is ResultValue.Error -> Outcome.Threw(r.error)
                is ResultValue.Unit, is ResultValue.NotEvaluated -> Outcome.Value(null)
            }
        }
    }

    private fun List<ScriptDiagnostic>.errors(name: String): List<String> =
        filter { it.severity >= ScriptDiagnostic.Severity.ERROR }.map { d ->
            val where = d.location?.start?.let { "line ${it.line}:${it.col}" } ?: name
            "$where: ${d.message}"
        }.ifEmpty { listOf("$name: does not compile") }

    companion object {
        private const val MAX_JVM_TARGET = 25 // the newest target this Kotlin compiler knows

        /** The bytecode target of scripts and cells: this JVM's release (Strata's inline functions are its bytecode), at most the compiler's newest. */
        internal val JVM_TARGET: String = Runtime.version().feature().coerceIn(22, MAX_JVM_TARGET).toString()

        /** What every cell imports: the DSL, the worker and task types, and the notebook's pictures. */
        val DEFAULT_IMPORTS: List<String> = listOf(
            "dev.strata.dsl.*", "dev.strata.worker.*", "dev.strata.task.*", "dev.strata.tensor.*", "dev.strata.record.*",
            "dev.strata.cli.notebook.*", "kotlin.time.Duration.Companion.seconds",
        )
    }
}
