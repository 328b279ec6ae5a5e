package dev.strata.graph

import dev.strata.task.TaskArgs
import dev.strata.task.TaskCallable
import dev.strata.task.Target
import dev.strata.tensor.Buffer
import dev.strata.tensor.DType
import dev.strata.tensor.Tag
import dev.strata.tensor.Tensor
import dev.strata.worker.Worker
import dev.strata.worker.WorkerConfig
import io.kotest.core.spec.style.FunSpec
import io.kotest.matchers.collections.shouldBeEmpty
import io.kotest.matchers.collections.shouldContainExactly
import io.kotest.matchers.collections.shouldContainExactlyInAnyOrder
import io.kotest.matchers.shouldBe
import java.util.Collections
import java.util.concurrent.CountDownLatch
import java.util.concurrent.TimeUnit
import java.util.concurrent.atomic.AtomicBoolean

/**
 * Drives one run's [TensorMap] directly: each `submit` builds a [Task] the way the orchestrator does and
 * returns the earlier tasks the map says it must follow.
 */
private class MapHarness(val run: Run = Run(1) { }) {
    private var nextId = 0L
    val tasks = ArrayList<Task>()

    fun submit(vararg args: Pair<Tensor, Tag>): Pair<Task, List<String>> =
        submitGroup(listOf(args.toList()))

    fun submitGroup(members: List<List<Pair<Tensor, Tag>>>): Pair<Task, List<String>> {
        val built = members.map { m -> TaskArgs.build { for ((t, tag) in m) add(t, tag) } }.toTypedArray()
        val id = ++nextId
        val task = Task(id, run, "t$id", NOOP, Array(built.size) { Target.Sub }, built)
        val found = LinkedHashSet<Task>()
        run.tensorMap.infer(task, built) { producer -> found += producer }
        tasks += task
        return task to found.map { it.name }
    }

    /** The names of the tasks that [args] would depend on, recording the new task too. */
    fun deps(vararg args: Pair<Tensor, Tag>): List<String> = submit(*args).second

    companion object {
        val NOOP = TaskCallable { }
    }
}

class TensorMapSpec : FunSpec({
    val buf = Buffer.host(64, "x")
    val x = buf.tensor(DType.U8, 64)
    fun x(from: Long, to: Long) = x.slice(0, from, to)
    val y = Buffer.host(64, "y").tensor(DType.U8, 64)

    test("the three hazards over overlapping bytes: read-after-write: a reader follows the earlier writer") {
        val m = MapHarness()
        m.deps(x to Tag.OUTPUT).shouldBeEmpty()
        m.deps(x(4, 12) to Tag.INPUT) shouldContainExactly listOf("t1")
    }

    test("the three hazards over overlapping bytes: write-after-write: a writer follows the earlier writer, whatever the write tag") {
        val m = MapHarness()
        m.deps(x(0, 16) to Tag.OUTPUT).shouldBeEmpty()
        m.deps(x(8, 24) to Tag.OUTPUT_EXISTING) shouldContainExactly listOf("t1")
        m.deps(x(20, 21) to Tag.INOUT) shouldContainExactly listOf("t2")
    }

    test("the three hazards over overlapping bytes: write-after-read: a writer follows every earlier reader of its bytes") {
        val m = MapHarness()
        m.deps(x(0, 8) to Tag.INPUT).shouldBeEmpty()
        m.deps(x(4, 12) to Tag.INPUT).shouldBeEmpty() // readers never wait for readers
        m.deps(x(30, 40) to Tag.INPUT).shouldBeEmpty()
        m.deps(x(6, 10) to Tag.OUTPUT) shouldContainExactlyInAnyOrder listOf("t1", "t2")
    }

    test("the three hazards over overlapping bytes: a writer after a write and its readers follows all of them") {
        val m = MapHarness()
        m.deps(x to Tag.OUTPUT).shouldBeEmpty()
        m.deps(x(0, 8) to Tag.INPUT) shouldContainExactly listOf("t1")
        m.deps(x(8, 16) to Tag.INPUT) shouldContainExactly listOf("t1")
        m.deps(x(0, 16) to Tag.INOUT) shouldContainExactlyInAnyOrder listOf("t1", "t2", "t3")
    }

    test("the three hazards over overlapping bytes: INOUT both reads and writes: chains of INOUT tasks follow one another") {
        val m = MapHarness()
        m.deps(x(0, 4) to Tag.INOUT).shouldBeEmpty()
        m.deps(x(0, 4) to Tag.INOUT) shouldContainExactly listOf("t1")
        m.deps(x(2, 3) to Tag.INPUT) shouldContainExactly listOf("t2")
        m.deps(x(0, 4) to Tag.INOUT) shouldContainExactlyInAnyOrder listOf("t2", "t3")
    }

    test("the three hazards over overlapping bytes: read-after-read adds no dependency") {
        val m = MapHarness()
        m.deps(x to Tag.INPUT).shouldBeEmpty()
        m.deps(x to Tag.INPUT).shouldBeEmpty()
    }

    test("only overlapping bytes of the same buffer create dependencies: disjoint ranges and other buffers do not depend") {
        val m = MapHarness()
        m.deps(x(0, 8) to Tag.OUTPUT).shouldBeEmpty()
        m.deps(x(8, 16) to Tag.OUTPUT).shouldBeEmpty()
        m.deps(x(16, 32) to Tag.INPUT).shouldBeEmpty()
        m.deps(y to Tag.OUTPUT).shouldBeEmpty()
        m.deps(x(7, 9) to Tag.INPUT) shouldContainExactlyInAnyOrder listOf("t1", "t2")
    }

    test("only overlapping bytes of the same buffer create dependencies: disjoint column tiles and interleaved strided views do not depend") {
        val mat = Buffer.host(8 * 8 * 4, "mat").tensor(DType.I32, 8, 8)
        val m = MapHarness()
        m.deps(mat.tile(0, 0, 8, 4) to Tag.OUTPUT).shouldBeEmpty()
        m.deps(mat.tile(0, 4, 8, 4) to Tag.OUTPUT).shouldBeEmpty()
        m.deps(mat.slice(0, 0, 8, 2) to Tag.INOUT) shouldContainExactlyInAnyOrder listOf("t1", "t2")
        m.deps(mat.slice(0, 1, 8, 2) to Tag.INOUT) shouldContainExactlyInAnyOrder listOf("t1", "t2")
        // Column 5 of rows 2 and 3 meets the right tile (t2), the even rows (t3) and the odd rows (t4),
        // but not the left tile (t1); so does column 7, reached through the transpose.
        m.deps(mat.tile(2, 5, 2, 1) to Tag.INPUT) shouldContainExactlyInAnyOrder listOf("t2", "t3", "t4")
        m.deps(mat.transpose().slice(0, 7, 8) to Tag.INPUT) shouldContainExactlyInAnyOrder listOf("t2", "t3", "t4")
        m.deps(mat.tile(0, 0, 1, 4) to Tag.OUTPUT) shouldContainExactlyInAnyOrder listOf("t1", "t3")
    }

    test("only overlapping bytes of the same buffer create dependencies: group members are tracked like the arguments of one task") {
        val m = MapHarness()
        m.submitGroup(listOf(listOf(x(0, 8) to Tag.OUTPUT), listOf(x(8, 16) to Tag.OUTPUT))).second.shouldBeEmpty()
        m.deps(x(12, 13) to Tag.INPUT) shouldContainExactly listOf("t1")
        m.submitGroup(listOf(listOf(x(20, 24) to Tag.INPUT), listOf(x(0, 2) to Tag.OUTPUT))).second shouldContainExactly
            listOf("t1")
        m.deps(x(20, 21) to Tag.OUTPUT) shouldContainExactly listOf("t3")
    }

    test("NO_DEP: an untracked argument neither depends on nor is recorded for later tasks") {
        val m = MapHarness()
        m.deps(x to Tag.OUTPUT).shouldBeEmpty()
        val before = m.run.tensorMap.size
        m.deps(x to Tag.NO_DEP).shouldBeEmpty()
        m.run.tensorMap.size shouldBe before
        // A later writer does not wait for the NO_DEP task (t2), only for the tracked writer.
        m.deps(x to Tag.OUTPUT) shouldContainExactly listOf("t1")
        m.deps(y to Tag.NO_DEP, x(0, 1) to Tag.INPUT) shouldContainExactly listOf("t3")
        m.deps(y to Tag.OUTPUT).shouldBeEmpty()
    }

    test("covering writes supersede older entries: a write covering older accesses replaces them: later tasks follow only the new writer") {
        val m = MapHarness()
        m.deps(x(0, 8) to Tag.OUTPUT).shouldBeEmpty()
        m.deps(x(4, 12) to Tag.INPUT) shouldContainExactly listOf("t1")
        m.run.tensorMap.size shouldBe 2
        m.deps(x(0, 16) to Tag.OUTPUT) shouldContainExactlyInAnyOrder listOf("t1", "t2")
        m.run.tensorMap.size shouldBe 1 // t1 and t2 dropped: everything that meets them meets t3
        m.deps(x(0, 4) to Tag.INPUT) shouldContainExactly listOf("t3")
        m.deps(x(0, 16) to Tag.OUTPUT) shouldContainExactlyInAnyOrder listOf("t3", "t4")
    }

    test("covering writes supersede older entries: a write that does not cover an older access keeps it") {
        val m = MapHarness()
        m.deps(x(0, 16) to Tag.OUTPUT).shouldBeEmpty()
        m.deps(x(0, 8) to Tag.OUTPUT) shouldContainExactly listOf("t1")
        m.run.tensorMap.size shouldBe 2
        m.deps(x(8, 16) to Tag.INPUT) shouldContainExactly listOf("t1")
        m.deps(x(0, 4) to Tag.INPUT) shouldContainExactlyInAnyOrder listOf("t1", "t2")
    }

    test("covering writes supersede older entries: a strided write supersedes exactly the same strided view, not a bigger one") {
        val m = MapHarness()
        val even = x.slice(0, 0, 64, 2)
        m.deps(even to Tag.OUTPUT).shouldBeEmpty()
        m.deps(even to Tag.OUTPUT) shouldContainExactly listOf("t1")
        m.run.tensorMap.size shouldBe 1
        m.deps(x.slice(0, 0, 64, 4) to Tag.INPUT) shouldContainExactly listOf("t2")
        m.deps(x(0, 1) to Tag.OUTPUT) shouldContainExactlyInAnyOrder listOf("t2", "t3")
    }

    test("covering writes supersede older entries: a read never supersedes anything") {
        val m = MapHarness()
        m.deps(x(0, 4) to Tag.OUTPUT).shouldBeEmpty()
        m.deps(x to Tag.INPUT) shouldContainExactly listOf("t1")
        m.deps(x(0, 4) to Tag.INPUT) shouldContainExactly listOf("t1")
        m.run.tensorMap.size shouldBe 3
    }

    test("consumed tasks: entries of consumed tasks are skipped and dropped; erase removes a task's entries") {
        val m = MapHarness()
        val (t1, _) = m.submit(x(0, 8) to Tag.OUTPUT)
        val (t2, _) = m.submit(x(8, 16) to Tag.OUTPUT, y to Tag.INPUT)
        t1.consumed()
        m.deps(x(0, 16) to Tag.INPUT) shouldContainExactly listOf("t2")
        m.run.tensorMap.size shouldBe 3 // t2's two entries and t3's; t1's was dropped on the way
        m.run.tensorMap.erase(t2)
        m.run.tensorMap.size shouldBe 1
        m.deps(x(8, 16) to Tag.OUTPUT) shouldContainExactly listOf("t3")
        m.deps(y to Tag.OUTPUT).shouldBeEmpty()
        t2.state shouldBe TaskState.BUILDING // erase only touches the map
    }

    test("per-run namespaces: a new run's map is fresh: it knows nothing of an earlier run's tasks") {
        val first = MapHarness(Run(1) { })
        first.deps(x to Tag.OUTPUT).shouldBeEmpty()
        first.deps(x to Tag.INPUT) shouldContainExactly listOf("t1")
        val second = MapHarness(Run(2) { })
        second.run.tensorMap.size shouldBe 0
        second.deps(x to Tag.INPUT).shouldBeEmpty()
        second.deps(x to Tag.OUTPUT) shouldContainExactly listOf("t1") // its own t1, the reader above
        first.run.tensorMap.size shouldBe 2
    }

    test("observed through a Worker: a writer waits for an earlier reader, while a task on disjoint bytes runs beside the reader") {
        Worker(WorkerConfig(subWorkers = 3)).use { w ->
            val data = w.hostTensor(DType.U8, 32)
            val events = Collections.synchronizedList(ArrayList<String>())
            val disjointStarted = CountDownLatch(1)
            val readerDone = AtomicBoolean(false)
            var readerSawDisjoint = false
            var writerSawReaderDone = false
            w.run {
                submit(Target.Sub, {
                    events += "reader start"
                    // The disjoint writer must be able to start while we run; a spurious dependency
                    // would keep it waiting for us and this wait would give up.
                    readerSawDisjoint = disjointStarted.await(30, TimeUnit.SECONDS)
                    events += "reader end"
                    readerDone.set(true)
                }, TaskArgs.build { input(data.slice(0, 0, 16)) }, "reader")
                submit(Target.Sub, {
                    events += "overlapping writer"
                    writerSawReaderDone = readerDone.get()
                }, TaskArgs.build { output(data.slice(0, 8, 16)) }, "writer")
                submit(Target.Sub, {
                    events += "disjoint writer"
                    disjointStarted.countDown()
                }, TaskArgs.build { output(data.slice(0, 16, 32)) }, "disjoint")
            }
            readerSawDisjoint shouldBe true
            writerSawReaderDone shouldBe true
            events.indexOf("overlapping writer") shouldBe events.size - 1
        }
    }

    test("observed through a Worker: runs have separate namespaces, yet the second run still sees the first run's bytes") {
        Worker(WorkerConfig(subWorkers = 2)).use { w ->
            val cell = w.hostTensor(DType.I64, 1)
            val first = w.submit {
                repeat(50) { i -> submit(Target.Sub, { cell.setLong(0, cell.getLong(0) * 7 + i) }, TaskArgs.build { inout(cell) }) }
            }
            val second = w.submit {
                submit(Target.Sub, { cell.setLong(0, cell.getLong(0) + 1_000_000) }, TaskArgs.build { inout(cell) })
            }
            first.result()
            second.result()
            var expect = 0L
            repeat(50) { expect = expect * 7 + it }
            cell.getLong(0) shouldBe expect + 1_000_000
        }
    }
})
