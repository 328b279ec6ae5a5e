package dev.strata.trace

import dev.strata.chip.ChipConfig
import dev.strata.chip.DoubleInts
import dev.strata.chip.kernel
import dev.strata.error.TaskFailedException
import dev.strata.error.TraceWriteException
import dev.strata.error.WorkerStartException
import dev.strata.process.NoOp
import dev.strata.process.assertNoLeftovers
import dev.strata.task.TaskArgs
import dev.strata.task.Target
import dev.strata.tensor.DType
import dev.strata.worker.Isolation
import dev.strata.worker.NextLevelChild
import dev.strata.worker.Worker
import dev.strata.worker.WorkerConfig
import io.kotest.assertions.throwables.shouldThrow
import io.kotest.assertions.withClue
import io.kotest.core.spec.style.FunSpec
import io.kotest.engine.spec.tempdir
import io.kotest.matchers.collections.shouldBeEmpty
import io.kotest.matchers.collections.shouldContain
import io.kotest.matchers.collections.shouldContainAll
import io.kotest.matchers.doubles.shouldBeLessThanOrEqual
import io.kotest.matchers.shouldBe
import io.kotest.matchers.shouldNotBe
import io.kotest.matchers.string.shouldContain
import kotlinx.serialization.json.JsonObject
import kotlinx.serialization.json.JsonPrimitive
import kotlinx.serialization.json.double
import kotlinx.serialization.json.long
import io.kotest.property.Arb
import io.kotest.property.PropTestConfig
import io.kotest.property.arbitrary.long
import io.kotest.property.checkAll
import java.nio.file.Files
import java.nio.file.Path
import kotlin.random.Random
import kotlin.time.Duration.Companion.seconds

private fun TraceEvent.arg(name: String): JsonPrimitive? = args?.get(name) as JsonPrimitive?

/** The child-trace files in the temp directory now. */
private fun childTraceFiles(): Set<String> =
    Files.list(Path.of(System.getProperty("java.io.tmpdir"))).use { s -> s.map { it.fileName.toString() }.filter { it.startsWith("strata-trace-child-") }.toList().toSet() }

/** Task spans (`X`) of [file], by task id (one per member). */
private fun TraceFile.spans(): List<TraceEvent> = traceEvents.filter { it.ph == "X" }

class TraceSpec : FunSpec({
    afterEach { assertNoLeftovers("the trace specs") }

    test("a traced worker writes a valid trace: a span per task on the track that ran it, with its phases in order") {
        val file = tempdir().toPath().resolve("run.json")
        Worker(WorkerConfig(subWorkers = 2, nextLevel = listOf(NextLevelChild.Plain, NextLevelChild.Plain), trace = file, name = "TW")).use { w ->
            val a = w.hostTensor(DType.F32, 256)
            val b = w.hostTensor(DType.F32, 256)
            repeat(3) {
                w.run {
                    submit(Target.Sub, { Thread.sleep(2) }, TaskArgs.build { output(a) }, "produce")
                    submit(Target.Next(0), { Thread.sleep(1) }, TaskArgs.build { input(a); output(b) }, "transform")
                    submit(Target.Next(1), { }, TaskArgs.build { input(b); scalar(7) }, "consume")
                    submitGroup(listOf(Target.Next(0), Target.Next(1)), { }, listOf(TaskArgs.build { input(b) }, TaskArgs.build { input(b) }), "group")
                }
            }
            Files.exists(file) shouldBe false // written when the worker closes
        }
        val trace = TraceFile.read(file)
        withClue(trace.problems().joinToString("\n")) { trace.problems().shouldBeEmpty() }
        trace.processNames.values shouldContain "TW"
        trace.trackNames.values.shouldContainAll("TW chip#0", "TW chip#1")
        trace.trackNames.values.any { it.matches(Regex("TW sub#\\d")) } shouldBe true // whichever idle sub worker took the task

        val spans = trace.spans()
        spans.size shouldBe 3 * 5 // produce, transform, consume and the group's two members, per run
        spans.map { it.name }.toSet() shouldBe setOf("produce", "transform", "consume", "group")
        val tracks = trace.trackNames
        for (s in spans) {
            withClue(s) {
                s.cat shouldBe "completed"
                val submitted = s.arg("submitted_us")!!.double
                val ready = s.arg("ready_us")!!.double
                val dispatched = s.arg("dispatched_us")!!.double
                submitted shouldBeLessThanOrEqual ready
                ready shouldBeLessThanOrEqual dispatched
                dispatched shouldBeLessThanOrEqual s.ts + 0.001
                when (s.name) {
                    "produce" -> tracks[s.pid to s.tid]!! shouldContain "sub#"
                    "transform" -> tracks[s.pid to s.tid] shouldBe "TW chip#0"
                    "consume" -> {
                        tracks[s.pid to s.tid] shouldBe "TW chip#1"
                        s.arg("args")!!.content shouldBe "in f32[256] · 1 scalar"
                    }
                    "group" -> s.arg("members")!!.long shouldBe 2
                }
            }
        }
        // A consumer starts after its producer ended: the trace shows the order the DAG imposed.
        for (run in 1L..3L) {
            val byName = spans.filter { it.arg("run")!!.long == run }.associateBy { it.name }
            byName.getValue("produce").let { it.ts + it.dur!! } shouldBeLessThanOrEqual byName.getValue("transform").ts
        }
        // Runs are async begin/end pairs whose end carries the run's statistics; counters are there.
        val ends = trace.traceEvents.filter { it.ph == "e" && it.cat == "run" }
        ends.size shouldBe 3
        ends.forEach { it.arg("tasks")!!.long shouldBe 4; it.arg("completed")!!.long shouldBe 4 }
        trace.traceEvents.filter { it.ph == "C" }.map { it.name }.toSet().shouldContainAll("ready tasks", "task window")
    }

    test("a failed task is a failed span with its error; the tasks it poisoned are marked skipped") {
        val file = tempdir().toPath().resolve("failed.json")
        Worker(WorkerConfig(subWorkers = 1, trace = file, name = "TF")).use { w ->
            val a = w.hostTensor(DType.I32, 4)
            shouldThrow<TaskFailedException> {
                w.run {
                    submit(Target.Sub, { throw IllegalStateException("boom on purpose") }, TaskArgs.build { output(a) }, "explode")
                    submit(Target.Sub, { }, TaskArgs.build { input(a) }, "after")
                }
            }
            val h = w.submit { submit(Target.Sub, { }, TaskArgs.EMPTY, "fine") }
            h.result(10.seconds)
        }
        val trace = TraceFile.read(file)
        trace.problems().shouldBeEmpty()
        val failed = trace.spans().single { it.name == "explode" }
        failed.cat shouldBe "failed"
        failed.arg("error")!!.content shouldContain "boom on purpose"
        val skipped = trace.traceEvents.single { it.ph == "i" && it.cat == "skipped" }
        skipped.name shouldBe "skipped: after"
        trace.trackNames[skipped.pid to skipped.tid] shouldBe "scheduler"
        val end = trace.traceEvents.first { it.ph == "e" && it.id == "1" }
        end.arg("failed")!!.long shouldBe 1
        end.arg("skipped")!!.long shouldBe 1
        end.arg("error")!!.content shouldContain "boom on purpose"
    }

    test("chips in this JVM: their cores record into the host's trace, one process per chip") {
        val file = tempdir().toPath().resolve("chips.json")
        Worker(
            WorkerConfig(nextLevel = List(2) { NextLevelChild.Chip(ChipConfig(it)) }, chipIsolation = Isolation.THREAD, trace = file, name = "TC"),
        ).use { w ->
            val x = w.hostTensor(DType.I32, 64)
            val y = w.hostTensor(DType.I32, 64)
            w.run { submit(Target.Next(1), kernel(DoubleInts), TaskArgs.build { input(x); output(y) }, "double") }
        }
        val trace = TraceFile.read(file)
        trace.problems().shouldBeEmpty()
        trace.processNames.values.shouldContainAll("TC", "TC chip#0 cores", "TC chip#1 cores")
        val chipSpan = trace.spans().single { trace.trackNames[it.pid to it.tid] == "TC chip#1" }
        chipSpan.name shouldBe "double"
        val core = trace.spans().single { trace.processNames[it.pid] == "TC chip#1 cores" }
        trace.trackNames[core.pid to core.tid]!! shouldContain "core#" // a core of chip 1
        // The core's span lies within the chip's: one clock for the whole tree.
        chipSpan.ts shouldBeLessThanOrEqual core.ts
        (core.ts + core.dur!!) shouldBeLessThanOrEqual (chipSpan.ts + chipSpan.dur!! + 0.001)
    }

    test("chips in child JVMs: each chip's track shows its tasks when the child ran them") {
        val file = tempdir().toPath().resolve("process.json")
        val childFilesBefore = childTraceFiles()
        Worker(
            WorkerConfig(nextLevel = List(2) { NextLevelChild.Chip(ChipConfig(it)) }, chipIsolation = Isolation.PROCESS, trace = file, name = "TP", closeTimeout = 5.seconds),
        ).use { w ->
            repeat(2) { w.run { for (c in 0 until 2) submit(Target.Next(c), kernel(NoOp), TaskArgs.EMPTY, "noop$c") } }
        }
        val trace = TraceFile.read(file)
        trace.problems().shouldBeEmpty()
        val hostPid = trace.processNames.entries.single { it.value == "TP" }.key
        val spans = trace.spans().filter { it.pid == hostPid }
        spans.size shouldBe 4
        spans.filter { it.name == "noop1" }.forEach { trace.trackNames[it.pid to it.tid] shouldBe "TP chip#1" }
        // The child JVM reported when it ran each task (mailbox task start/end, on the host's clock): a span
        // starts after its dispatch, not at it (the host's own view would start exactly there).
        for (s in spans) withClue(s) { (s.ts > s.arg("dispatched_us")!!.double) shouldBe true }
        // Each chip JVM wrote its own trace (its cores) and the host merged it on the same clock: a core's span
        // lies within the span of the chip task that ran it, and the child's file is gone.
        trace.processNames.values.shouldContainAll("TP chip#0 cores", "TP chip#1 cores")
        trace.otherData["missingChildTraces"] shouldBe null
        val cores = trace.traceEvents.filter { it.ph == "X" && trace.processNames[it.pid]!!.endsWith(" cores") }
        cores.size shouldBe 4
        for (c in cores) {
            val chip = trace.processNames[c.pid]!!.removeSuffix(" cores")
            val host = spans.single { trace.trackNames[it.pid to it.tid] == chip && it.ts <= c.ts && c.ts <= it.ts + it.dur!! }
            withClue("$c within $host") { (c.ts + c.dur!!) shouldBeLessThanOrEqual host.ts + host.dur!! + 0.001 }
            // The core task's own times moved with it: the chip program submitted it while the chip task ran.
            val submitted = c.arg("submitted_us")!!.double
            val dispatched = c.arg("dispatched_us")!!.double
            withClue("$c submitted within $host") { (submitted >= host.ts - 0.001 && submitted <= dispatched && dispatched <= c.ts + 0.001) shouldBe true }
        }
        childTraceFiles() shouldBe childFilesBefore
    }

    test("a chip JVM killed before it wrote its trace: the host's trace names it as missing, and its file is gone") {
        val file = tempdir().toPath().resolve("killed.json")
        val before = childTraceFiles()
        Worker(
            WorkerConfig(nextLevel = List(2) { NextLevelChild.Chip(ChipConfig(it)) }, chipIsolation = Isolation.PROCESS, trace = file, name = "TK", closeTimeout = 5.seconds),
        ).use { w ->
            w.run { for (c in 0 until 2) submit(Target.Next(c), kernel(NoOp), TaskArgs.EMPTY, "noop$c") }
            val pid = w.childPids.getValue("TK chip#1")
            ProcessHandle.of(pid).ifPresent { it.destroyForcibly(); it.onExit().get() }
        }
        val trace = TraceFile.read(file)
        trace.problems().shouldBeEmpty()
        trace.otherData["missingChildTraces"] shouldBe "TK chip#1"
        trace.processNames.values shouldContain "TK chip#0 cores"
        childTraceFiles() shouldBe before
    }

    test("a traced worker whose chip JVM fails to start writes no trace and leaves no child file behind") {
        val file = tempdir().toPath().resolve("failed-start.json")
        val before = childTraceFiles()
        shouldThrow<WorkerStartException> {
            Worker(
                WorkerConfig(
                    nextLevel = listOf(NextLevelChild.Chip(ChipConfig(0)), NextLevelChild.Chip(ChipConfig(1, driver = "no.such.Driver"))),
                    chipIsolation = Isolation.PROCESS, trace = file, name = "TS", closeTimeout = 5.seconds,
                ),
            ).close()
        }
        Files.exists(file) shouldBe false
        childTraceFiles() shouldBe before
    }

    test("a trace that cannot be written fails close with TraceWriteException naming the path; the worker is closed anyway") {
        val dir = tempdir().toPath()
        val blocker = Files.writeString(dir.resolve("a-file"), "not a directory")
        val file = blocker.resolve("trace.json") // its parent is a file
        val w = Worker(WorkerConfig(subWorkers = 1, trace = file))
        w.run { submit(Target.Sub, { }, TaskArgs.EMPTY) }
        val e = shouldThrow<TraceWriteException> { w.close() }
        e.path shouldBe file
        e.message!! shouldContain file.toString()
        e.message!! shouldContain "--trace"
        w.isClosed shouldBe true
    }

    test("untraced workers record nothing and write nothing") {
        val dir = tempdir().toPath()
        Worker(WorkerConfig(subWorkers = 1)).use { w -> w.run { submit(Target.Sub, { }, TaskArgs.EMPTY) } }
        Files.list(dir).use { it.count() } shouldBe 0L
    }

    test("the recorder is bounded: past its limit it drops events and the file says how many") {
        val r = TraceRecorder(maxEvents = 10)
        val wt = r.worker("bounded")
        repeat(25) { wt.mark("t", "m$it", "x", System.nanoTime(), emptyMap()) }
        r.droppedEvents shouldBe 15
        val f = r.snapshot()
        f.traceEvents.count { it.ph == "i" } shouldBe 10
        f.otherData["droppedEvents"] shouldBe "15"
        f.problems().shouldBeEmpty()
    }

    test("the validator finds what breaks the format: overlapping spans on a track, unnamed tracks, unpaired async events") {
        val named = listOf(
            TraceEvent("process_name", "M", pid = 1, args = JsonObject(mapOf("name" to JsonPrimitive("p")))),
            TraceEvent("thread_name", "M", pid = 1, tid = 1, args = JsonObject(mapOf("name" to JsonPrimitive("t")))),
        )
        TraceFile(named + listOf(TraceEvent("a", "X", 0.0, 1, 1, dur = 10.0), TraceEvent("b", "X", 5.0, 1, 1, dur = 10.0))).problems()
            .single() shouldContain "overlaps"
        TraceFile(named + listOf(TraceEvent("a", "X", 0.0, 1, 1, dur = 10.0), TraceEvent("b", "X", 2.0, 1, 1, dur = 3.0))).problems().shouldBeEmpty()
        TraceFile(named + TraceEvent("a", "X", 0.0, 1, 2, dur = 1.0)).problems().single() shouldContain "no thread_name"
        TraceFile(named + TraceEvent("r", "b", 0.0, 1, id = "1")).problems().single() shouldContain "without an end"
        TraceFile(named + TraceEvent("a", "Q", 0.0, 1, 1)).problems().single() shouldContain "unknown phase"
        TraceFile(named + TraceEvent("a", "X", 0.0, 1, 1)).problems().single() shouldContain "dur"
    }

    test("property: for random programs the trace is valid, has one span per task member, and no task starts before a task it depends on ended") {
        checkAll(PropTestConfig(iterations = 25), Arb.long()) { seed ->
            val rnd = Random(seed)
            val file = tempdir().toPath().resolve("prop-$seed.json")
            // Which earlier tasks each task depends on: a read or write of a tensor follows the last write of it,
            // and a write also follows every read since (the rules the engine infers, over whole tensors).
            val deps = ArrayList<Set<Int>>()
            Worker(WorkerConfig(subWorkers = 3, nextLevel = List(2) { NextLevelChild.Plain }, trace = file, name = "P")).use { w ->
                val tensors = List(4) { w.hostTensor(DType.I32, 8) }
                val lastWrite = IntArray(4) { -1 }
                val readsSince = List(4) { ArrayList<Int>() }
                val n = rnd.nextInt(1, 40)
                w.run {
                    for (k in 0 until n) {
                        val reads = tensors.indices.filter { rnd.nextInt(3) == 0 }
                        val writes = tensors.indices.filter { it !in reads && rnd.nextInt(3) == 0 }
                        val d = HashSet<Int>()
                        for (i in reads + writes) if (lastWrite[i] >= 0) d += lastWrite[i]
                        for (i in writes) d += readsSince[i]
                        deps += d
                        for (i in reads) readsSince[i] += k
                        for (i in writes) { lastWrite[i] = k; readsSince[i].clear() }
                        val args = TaskArgs.build { reads.forEach { input(tensors[it]) }; writes.forEach { output(tensors[it]) } }
                        val target = when (rnd.nextInt(3)) { 0 -> Target.Next(rnd.nextInt(2)); else -> Target.Sub }
                        submit(target, { if (rnd.nextInt(4) == 0) Thread.sleep(1) }, args, "t$k")
                    }
                }
            }
            val trace = TraceFile.read(file)
            withClue("seed $seed: ${trace.problems()}") { trace.problems().shouldBeEmpty() }
            val spans = trace.spans().associateBy { it.name }
            spans.size shouldBe deps.size
            for ((k, d) in deps.withIndex()) {
                val s = spans.getValue("t$k")
                for (p in d) {
                    val producer = spans.getValue("t$p")
                    withClue("seed $seed: t$k depends on t$p") { (producer.ts + producer.dur!!) shouldBeLessThanOrEqual s.ts + 0.001 }
                }
            }
        }
    }

    test("a trace file round-trips through JSON, and its text is the trace-event object form") {
        val file = tempdir().toPath().resolve("rt.json")
        Worker(WorkerConfig(subWorkers = 1, trace = file)).use { w -> w.run { submit(Target.Sub, { }, TaskArgs.EMPTY, "one") } }
        val text = Files.readString(file)
        text shouldContain "\"traceEvents\""
        text shouldContain "\"ph\":\"X\""
        text shouldNotBe ""
        val parsed = TraceFile.parse(text)
        parsed shouldBe TraceFile.read(file)
        val again = tempdir().toPath().resolve("again.json")
        parsed.write(again)
        TraceFile.read(again) shouldBe parsed
        parsed.spans().single().name shouldBe "one"
    }
})
