package dev.strata.cli

import dev.strata.testkit.strataKit
import io.kotest.assertions.withClue
import io.kotest.core.spec.style.FunSpec
import io.kotest.engine.spec.tempdir
import io.kotest.matchers.collections.shouldNotBeEmpty
import io.kotest.matchers.shouldBe
import java.io.ByteArrayOutputStream
import java.io.File
import java.io.PrintStream
import kotlin.time.Duration.Companion.minutes

/** The repository root (tests run in a module directory). */
private val root: File = generateSequence(File("").absoluteFile) { it.parentFile }.first { File(it, "docs/user-guide.md").isFile }

/**
 * The imports every documentation snippet may assume (the user guide lists them once at its top);
 * a snippet's own imports come first.
 */
internal val SNIPPET_IMPORTS: List<String> = listOf(
    "dev.strata.dsl.*", "dev.strata.task.*", "dev.strata.tensor.*", "dev.strata.worker.*", "dev.strata.chip.*",
    "dev.strata.run.*", "dev.strata.error.*", "dev.strata.record.*", "kotlin.time.Duration.Companion.seconds",
).map { "import $it" }

/** One runnable program of the docs: where it starts, and its code. */
internal class Snippet(val where: String, val code: String) {
    override fun toString(): String = where
}

/**
 * Kotlin snippets of a Markdown file: every ```kotlin block is a program, except that a block right after
 * a `<!-- continued -->` line extends the one before it (the two run as one script).
 */
internal fun markdownSnippets(file: File): List<Snippet> {
    val chains = ArrayList<Pair<Int, MutableList<String>>>()
    val lines = file.readLines()
    var i = 0
    var continued = false
    while (i < lines.size) {
        val line = lines[i].trim()
        when {
            line == "<!-- continued -->" -> continued = true
            line.startsWith("```kotlin") -> {
                val body = ArrayList<String>()
                val start = i + 1
                i++
                while (i < lines.size && lines[i].trim() != "```") body += lines[i++]
                if (continued && chains.isNotEmpty()) chains.last().second += body else chains += start to body
                continued = false
            }
            line.isNotEmpty() -> continued = false
        }
        i++
    }
    return chains.map { (start, body) -> Snippet("${file.relativeTo(root)}:$start", body.joinToString("\n")) }
}

/** The ```java blocks of a Markdown file: every one is a complete class with a `main`. */
internal fun javaSnippets(file: File): List<Snippet> {
    val lines = file.readLines()
    return lines.indices.filter { lines[it].trim() == "```java" }.map { start ->
        val end = (start + 1 until lines.size).first { lines[it].trim() == "```" }
        Snippet("${file.relativeTo(root)}:${start + 1}", lines.subList(start + 1, end).joinToString("\n"))
    }
}

/** Compiles [snippet] (a Java class) with javac against this classpath and runs its `main`; child JVMs see its classes. */
private fun compileAndRunJava(snippet: Snippet, dir: File) {
    val name = Regex("""public\s+class\s+(\w+)""").find(snippet.code)?.groupValues?.get(1)
        ?: error("$snippet: a Java snippet must be a complete public class")
    val src = File(dir, "src/$name.java").apply { parentFile.mkdirs(); writeText(snippet.code) }
    val classes = File(dir, "classes").apply { mkdirs() }
    val diagnostics = ByteArrayOutputStream()
    val status = javax.tools.ToolProvider.getSystemJavaCompiler()
        .run(null, diagnostics, diagnostics, "-d", classes.path, "-cp", compileClasspath().joinToString(File.pathSeparator), src.path)
    withClue("javac $snippet:\n$diagnostics") { status shouldBe 0 }
    val saved = System.getProperty("strata.child.classpath")
    System.setProperty("strata.child.classpath", classes.path)
    try {
        java.net.URLClassLoader(arrayOf(classes.toURI().toURL()), DocSnippetsSpec::class.java.classLoader).use { loader ->
            try {
                loader.loadClass(name).getMethod("main", Array<String>::class.java).invoke(null, arrayOf<String>())
            } catch (e: java.lang.reflect.InvocationTargetException) {
                throw AssertionError("$snippet threw ${e.targetException}", e.targetException)
            }
        }
    } finally {
        if (saved == null) System.clearProperty("strata.child.classpath") else System.setProperty("strata.child.classpath", saved)
    }
}

/** The ``` blocks of KDoc comments in [dir]'s Kotlin sources: every one is a runnable example. */
internal fun kdocSnippets(dir: File): List<Snippet> = dir.walkTopDown().filter { it.extension == "kt" }.sorted().flatMap { f ->
    val lines = f.readLines()
    buildList {
        var i = 0
        while (i < lines.size) {
            if (lines[i].trim() == "* ```") {
                val start = i + 1
                val body = ArrayList<String>()
                i++
                while (i < lines.size && lines[i].trim() != "* ```") body += lines[i++].trim().removePrefix("*").removePrefix(" ")
                add(Snippet("${f.relativeTo(root)}:$start", body.joinToString("\n")))
            }
            i++
        }
    }
}.toList()

/** [snippet] as a script: its imports, the shared ones, then its code. */
private fun script(snippet: Snippet): String {
    val (imports, code) = snippet.code.lines().partition { it.startsWith("import ") }
    return (imports + SNIPPET_IMPORTS).distinct().joinToString("\n") + "\n\n" + code.joinToString("\n") + "\n"
}


/**
 * Every Kotlin snippet of the user guide and the README, and every example in the DSL's KDoc, compiles
 * and runs to its end as a script (snippets check their own results with `check`); every Java snippet of
 * the guide compiles with javac and its `main` runs.
 */
class DocSnippetsSpec : FunSpec({
    val dir = privateScriptCache("strata-snippets")
    strataKit()

    val guide = markdownSnippets(File(root, "docs/user-guide.md"))
    val readme = markdownSnippets(File(root, "README.md"))
    val kdoc = kdocSnippets(File(root, "dsl/src/main/kotlin/dev/strata/dsl"))
    val java = javaSnippets(File(root, "docs/user-guide.md"))

    test("the docs have snippets to run") {
        guide.shouldNotBeEmpty()
        readme.shouldNotBeEmpty()
        kdoc.shouldNotBeEmpty()
        java.shouldNotBeEmpty()
    }

    for (snippet in java) {
        test("compiles with javac and runs: $snippet").config(timeout = 3.minutes, blockingTest = true) {
            compileAndRunJava(snippet, tempdir("strata-java-snippet"))
        }
    }

    for ((n, snippet) in (guide + readme + kdoc).withIndex()) {
        // blockingTest: a snippet that hangs is interrupted at the timeout and fails, instead of holding up the build
        test("runs: $snippet").config(timeout = 3.minutes, blockingTest = true) {
            val file = File(dir, "snippet$n.main.kts").apply { writeText(script(snippet)) }
            val out = ByteArrayOutputStream()
            val outcome = ScriptHost().run(file, emptyList(), PrintStream(out, true, Charsets.UTF_8))
            withClue("$snippet, as ${file.path}:\n${file.readText()}\noutput:\n${out.toString(Charsets.UTF_8)}") {
                outcome shouldBe ScriptHost.Outcome.Completed
            }
        }
    }
})
