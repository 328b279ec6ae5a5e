package dev.strata.cli

import io.kotest.core.spec.style.FunSpec
import io.kotest.datatest.withData
import io.kotest.matchers.shouldBe
import io.kotest.matchers.string.shouldContain
import io.kotest.matchers.types.shouldBeInstanceOf
import java.io.ByteArrayOutputStream
import java.io.File
import java.io.PrintStream

/** What every case starts from: a typed kernel and a worker, as a user writes them. */
private val PRELUDE = """
    import dev.strata.dsl.*
    import dev.strata.task.TaskContext
    import dev.strata.tensor.DType
    import dev.strata.tensor.Tensor

    object Saxpy : Kernel3<Tensor, Tensor, Float>(Param.input, Param.inout, Param.float) {
        override fun run(ctx: TaskContext, a: Tensor, b: Tensor, c: Float) {
            for (i in 0L until b.elementCount) b.setFloat(i, c * a.getFloat(i) + b.getFloat(i))
        }
    }

""".trimIndent()

/** A case: [body] after the prelude must fail to compile with [error] in the diagnostics. */
private data class Rejected(val what: String, val body: String, val error: String) {
    override fun toString(): String = what
}

/**
 * The typed DSL's promises checked by the compiler itself: each case is a script that must not compile,
 * next to a control that does and runs.
 */
class TypedDslCompileSpec : FunSpec({
    val dir = privateScriptCache("strata-typed")

    fun run(name: String, body: String): ScriptHost.Outcome {
        val f = File(dir, "$name.main.kts").apply { writeText(PRELUDE + "\n" + body.trimIndent() + "\n") }
        return ScriptHost().run(f, emptyList(), PrintStream(ByteArrayOutputStream()))
    }

    test("control: the well-typed program compiles and runs") {
        run(
            "control",
            """
            worker { subWorkers(2) }.use { w ->
                val x = w.hostTensor(DType.F32, 4).also { it.fill(1f) }
                val y = w.hostTensor(DType.F32, 4)
                w.run { submit(sub, Saxpy(x, y, 2f)) }
                check(y.getFloat(3) == 2f)
            }
            """,
        ) shouldBe ScriptHost.Outcome.Completed
    }

    context("ill-typed programs do not compile") {
        withData(
            Rejected("a scalar where a tensor belongs", "fun f(x: Tensor, y: Tensor) = Saxpy(x, 2f, y)", "Argument type mismatch"),
            Rejected("a tensor where a scalar belongs", "fun f(x: Tensor, y: Tensor) = Saxpy(x, y, y)", "Argument type mismatch"),
            Rejected("too few arguments", "fun f(x: Tensor) = Saxpy(x, 2f)", "No value passed for parameter"),
            Rejected("too many arguments", "fun f(x: Tensor, y: Tensor) = Saxpy(x, y, 2f, 3f)", "Too many arguments"),
            Rejected("an Int where a Float scalar belongs", "fun f(x: Tensor, y: Tensor) = Saxpy(x, y, 2)", "Argument type mismatch"),
            Rejected(
                "a declared parameter kind that disagrees with run's type",
                """
                object Bad : Kernel2<Tensor, Float>(Param.inout, Param.int) {
                    override fun run(ctx: TaskContext, a: Tensor, b: Float) {}
                }
                """,
                "mismatch",
            ),
            Rejected(
                "a worker setting inside a chip's block (@DslMarker)",
                "val w = worker { chips(0..1) { subWorkers(2) } }",
                "cannot be called in this context with an implicit receiver",
            ),
            Rejected(
                "a domain buffer declared inside a chip's block (@DslMarker)",
                "val w = worker { chips(0..1) { domain(\"d\", 0..1, 64) { } } }",
                "cannot be called in this context with an implicit receiver",
            ),
            Rejected(
                "a task argument outside the argument block (@DslMarker)",
                "fun f(w: dev.strata.worker.Worker, x: Tensor) = w.run { submit(sub, \"t\", { input(x); submit(sub, Saxpy(x, x, 1f)) }) { } }",
                "cannot be called in this context with an implicit receiver",
            ),
        ) { case ->
            val outcome = run(case.what.replace(Regex("[^a-z]+"), "-"), case.body)
            outcome.shouldBeInstanceOf<ScriptHost.Outcome.CompileFailed>()
            outcome.diagnostics.joinToString("\n") shouldContain case.error
        }
    }
})
