package dev.strata.cli

import dev.strata.testkit.strataKit
import io.kotest.core.spec.style.FunSpec
import io.kotest.matchers.collections.shouldHaveSize
import io.kotest.matchers.shouldBe
import io.kotest.matchers.string.shouldContain
import java.io.File

/** The repository's `samples/scripts` (tests run in a module directory). */
private val scripts: File = generateSequence(File("").absoluteFile) { it.parentFile }
    .map { File(it, "samples/scripts") }.first { it.isDirectory }

class ScriptCommandSpec : FunSpec({
    val cache = privateScriptCache("strata-scripts")
    strataKit()

    fun script(name: String, text: String): File = File(cache, name).apply { writeText(text) }

    test("pipeline.main.kts runs on sub workers that are threads, and passes") {
        val r = strata("script", File(scripts, "pipeline.main.kts").path, "--samples", "4096", "--blocks", "8")
        r.err shouldBe ""
        r.status shouldBe 0
        r.out shouldContain "4096 samples in 8 blocks on 4 sub workers (thread)"
        r.out shouldContain "PASS"
    }

    test("pipeline.main.kts with child JVMs: the callables declared in the script are found there by name") {
        val r = strata("script", File(scripts, "pipeline.main.kts").path, "--samples", "4096", "--blocks", "4", "--isolation", "process")
        r.status shouldBe 0
        r.out shouldContain "(process)"
        r.out shouldContain "PASS"
    }

    test("allreduce.main.kts: 3 chips in child JVMs, then 2 chips as threads; the compiled script is reused") {
        val file = File(scripts, "allreduce.main.kts").path
        val processes = strata("script", file, "--chips", "3", "--elements", "3001")
        processes.status shouldBe 0
        processes.out shouldContain "3 chips (process)"
        processes.out shouldContain "PASS"
        val threads = strata("script", file, "--chips", "2", "--elements", "1000", "--isolation", "thread")
        threads.status shouldBe 0
        threads.out shouldContain "PASS"
        val jars = cache.listFiles { f -> f.name.startsWith("allreduce_main-") }!!.toList()
        jars shouldHaveSize 1
        // Code a later run loads: the owner's alone, whatever the umask (issue 13 §19).
        dev.strata.shm.OwnerOnly.mode(jars.single().toPath()) shouldBe "rw-------"
        dev.strata.shm.OwnerOnly.mode(cache.toPath()) shouldBe "rwx------"
    }

    test("a script that does not compile: every error with its line and column, exit 3, nothing runs") {
        val f = script("broken.main.kts", "println(\"ran\")\nval x: Int = \"text\"\nprintln(undefinedThing)\n")
        val r = strata("script", f.path)
        r.status shouldBe ScriptCommand.COMPILE_FAILED
        r.out shouldBe ""
        r.err shouldContain "${f.path} does not compile"
        r.err shouldContain "broken.main.kts:2:12"
        r.err shouldContain "broken.main.kts:3:9: Unresolved reference 'undefinedThing'"
    }

    test("a script whose task fails: exit 1 and the task's error, with the task named") {
        val f = script(
            "failing.main.kts",
            """
            import dev.strata.dsl.*
            println("before")
            worker(level = 3) { subWorkers(1) }.use { w -> w.run { submit(sub, "exploding-task") { error("kaboom") } } }
            println("not reached")
            """.trimIndent(),
        )
        val r = strata("script", f.path)
        r.status shouldBe 1
        r.out shouldBe "before\n"
        r.err shouldContain "failed with dev.strata.error.TaskFailedException"
        r.err shouldContain "'exploding-task'"
        r.err shouldContain "kaboom"
    }

    test("--trace OUT: every worker the script starts writes a valid timeline (OUT, then OUT-2); the setting ends with the script") {
        val f = script(
            "traced.main.kts",
            """
            import dev.strata.dsl.*
            repeat(2) { k -> worker { subWorkers(1) }.use { w -> w.run { submit(sub, "task${'$'}k") { } } } }
            println("done")
            """.trimIndent(),
        )
        val dir = kotlin.io.path.createTempDirectory("strata-trace")
        try {
            val out = dir.resolve("script.json")
            val r = strata("script", "--trace", out.toString(), f.path)
            r.err shouldBe ""
            r.status shouldBe 0
            val first = dev.strata.trace.TraceFile.read(out)
            val second = dev.strata.trace.TraceFile.read(dir.resolve("script-2.json"))
            first.problems() shouldBe emptyList()
            second.problems() shouldBe emptyList()
            first.traceEvents.filter { it.ph == "X" }.map { it.name } shouldBe listOf("task0")
            second.traceEvents.filter { it.ph == "X" }.map { it.name } shouldBe listOf("task1")
            System.getProperty(dev.strata.worker.WorkerConfig.TRACE_PROPERTY) shouldBe null
        } finally {
            dir.toFile().deleteRecursively()
        }
    }

    test("arguments reach the script as args, options included") {
        val f = script("echo.main.kts", "println(args.joinToString(\"|\"))\n")
        val r = strata("script", f.path, "a", "--flag", "b c")
        r.status shouldBe 0
        r.out shouldBe "a|--flag|b c\n"
    }

    test("a missing file or no file at all: a clear message and exit 2") {
        val missing = strata("script", "/nonexistent/x.main.kts")
        missing.status shouldBe StrataCli.UNKNOWN_NAME
        missing.err shouldContain "no script at '/nonexistent/x.main.kts'"
        val none = strata("script")
        none.status shouldBe StrataCli.UNKNOWN_NAME
        none.err shouldContain "Usage: strata script <file.main.kts>"
        val notKts = script("notes.txt", "hello")
        strata("script", notKts.path).err shouldContain "is not a Kotlin script"
    }
})
