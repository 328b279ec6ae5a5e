package dev.strata.testkit

import dev.strata.task.TaskArgs
import dev.strata.task.Target
import dev.strata.tensor.DType
import dev.strata.tensor.Tag
import dev.strata.worker.Isolation
import dev.strata.worker.Worker
import dev.strata.worker.WorkerConfig
import io.kotest.assertions.throwables.shouldThrow
import io.kotest.core.spec.style.FunSpec
import io.kotest.engine.test.TestResult
import io.kotest.matchers.collections.shouldBeEmpty
import io.kotest.matchers.shouldBe
import io.kotest.matchers.string.shouldContain
import io.kotest.property.Arb
import io.kotest.property.PropTestConfig
import io.kotest.property.checkAll
import java.lang.foreign.ValueLayout
import java.nio.file.Files
import java.util.concurrent.TimeUnit
import kotlin.time.Duration.Companion.milliseconds
import kotlin.time.Duration.Companion.seconds

class StrataExtensionSpec : FunSpec({
    val strata = strataKit()
    var fromFirstTest: Worker? = null

    test("a worker made through the kit runs tasks in child JVMs") {
        val w = strata.worker(WorkerConfig(level = 3, subWorkers = 2, subIsolation = Isolation.PROCESS))
        val t = TensorSpec(DType.I32, longArrayOf(4), 1).allocate(w)
        w.run { submit(Target.Sub, AddScalarInto, TaskArgs.build { input(t); output(t.slice(0, 0, 4)); scalar(0) }) }
        w.childPids.values.all { ProcessHandle.of(it).isPresent } shouldBe true
        fromFirstTest = w
    }

    test("... and is closed after that test: its children are gone, and the leak check passed") {
        val w = fromFirstTest!!
        w.childPids.values.filter { pid -> ProcessHandle.of(pid).map { it.isAlive }.orElse(false) }.shouldBeEmpty()
        shouldThrow<dev.strata.error.WorkerClosedException> { w.run { } }
    }

    test("fault: a test that leaves a child process fails, naming its pid and command line; the process is stopped") {
        val check = StrataExtension(exitGrace = 200.milliseconds)
        val sleeper = ProcessBuilder("sleep", "60").start()
        val e = shouldThrow<AssertionError> { check.afterEach(testCase, TestResult.Success(0.seconds)) }
        e.message!! shouldContain "1 child process(es): ${sleeper.pid()} ("; e.message!! shouldContain "sleep 60)"
        e.message!! shouldContain Leftovers.ADVICE
        sleeper.waitFor(5, TimeUnit.SECONDS) shouldBe true
    }

    test("fault: a test that leaves a Strata shared-memory file fails, naming it; the file is removed") {
        val check = StrataExtension(exitGrace = 200.milliseconds)
        val file = dev.strata.shm.SharedMemoryFile.DIRECTORY.resolve("${dev.strata.shm.SharedMemoryFile.PREFIX}${ProcessHandle.current().pid()}-leak-test")
        Files.createFile(file)
        val e = shouldThrow<AssertionError> { check.afterEach(testCase, TestResult.Success(0.seconds)) }
        e.message!! shouldContain "1 shared-memory file(s) in /dev/shm: ${file.fileName}"
        Files.exists(file) shouldBe false
    }

    test("a worker the kit closes whose close fails: the failure is the test's, after the leak check") {
        val check = StrataExtension(exitGrace = 200.milliseconds)
        check.beforeSpec(testCase.spec)
        check.closing(AutoCloseable { throw IllegalStateException("close failed") })
        shouldThrow<IllegalStateException> { check.afterEach(testCase, TestResult.Success(0.seconds)) }.message shouldBe "close failed"
    }
})

class GeneratorsSpec : FunSpec({
    strataKit()

    test("a tensor spec makes the same bytes every time; views stay inside their tensor") {
        Worker(WorkerConfig(level = 3, subWorkers = 1)).use { w ->
            checkAll(PropTestConfig(seed = 7, iterations = 50), StrataArb.tensor()) { spec ->
                val a = spec.allocate(w).asSegment().toArray(ValueLayout.JAVA_BYTE)
                val b = spec.allocate(w).asSegment().toArray(ValueLayout.JAVA_BYTE)
                a.contentEquals(b) shouldBe true
                val t = spec.allocate(w)
                checkAll(PropTestConfig(iterations = 5), StrataArb.view(spec)) { v -> (v.of(t).elementCount > 0) shouldBe true } // slices validate their bounds
            }
        }
    }

    test("random programs: every task's outputs are disjoint, every view in bounds, inputs and outputs of one length") {
        checkAll(PropTestConfig(seed = 11, iterations = 200), StrataArb.program(KERNELS, tensors = 1..3, length = 4..64, tasks = 1..20)) { p ->
            for (task in p.tasks) {
                val n = task.args.first().let { it.to - it.from }
                task.args.all { it.to - it.from == n && it.from >= 0 && it.to <= p.tensors[it.tensor].elementCount } shouldBe true
                task.args.count { it.tag == Tag.INPUT } shouldBe task.kernel.inputs
                val outs = task.args.filter { it.tag.writes }
                for (i in outs.indices) for (j in 0 until i) {
                    (outs[i].tensor != outs[j].tensor || outs[i].to <= outs[j].from || outs[j].to <= outs[i].from) shouldBe true
                }
            }
        }
    }
})

class SerializabilityAssertionSpec : FunSpec({
    val strata = strataKit()

    test("random programs over correctly tagged kernels leave their sequential bytes, on threads and in child JVMs") {
        val threads = strata.worker(WorkerConfig(level = 3, subWorkers = 4))
        val processes = strata.worker(WorkerConfig(level = 3, subWorkers = 3, subIsolation = Isolation.PROCESS))
        checkAll(PropTestConfig(seed = 3, iterations = 25), StrataArb.program(KERNELS)) { p ->
            threads.shouldRunLikeSequential(p)
            processes.shouldRunLikeSequential(p)
        }
    }

    test("fault: a write tagged INPUT lets a reader run before the writer: the assertion fails, naming the tensor and element") {
        val w = strata.worker(WorkerConfig(level = 3, subWorkers = 2))
        val tensors = listOf(TensorSpec(DType.I32, longArrayOf(8), 1), TensorSpec(DType.I32, longArrayOf(8), 2), TensorSpec(DType.I32, longArrayOf(8), 3))
        val e = shouldThrow<AssertionError> {
            assertSerializable(w, tensors, describe = "slow writer, then reader") { (a, b, c) ->
                // The writer updates b but says it only reads it; the reader copies b to c.
                submit(Target.Sub, SlowAccumulate, TaskArgs.build { input(a); add(b, Tag.INPUT); scalar(200) })
                submit(Target.Sub, AddScalarInto, TaskArgs.build { input(b); output(c); scalar(0) })
            }
        }
        e.message!! shouldContain "not serializable: tensor 2"
        e.message!! shouldContain "element 0"
        e.message!! shouldContain "slow writer, then reader"
    }

    test("the same program with the write tagged INOUT passes") {
        val w = strata.worker(WorkerConfig(level = 3, subWorkers = 2))
        val tensors = listOf(TensorSpec(DType.I32, longArrayOf(8), 1), TensorSpec(DType.I32, longArrayOf(8), 2), TensorSpec(DType.I32, longArrayOf(8), 3))
        assertSerializable(w, tensors) { (a, b, c) ->
            submit(Target.Sub, SlowAccumulate, TaskArgs.build { input(a); inout(b); scalar(50) })
            submit(Target.Sub, AddScalarInto, TaskArgs.build { input(b); output(c); scalar(0) })
        }
    }

    test("fault: a program that does not finish on the worker fails the assertion at its timeout, and is cancelled") {
        val w = strata.worker(WorkerConfig(level = 3, subWorkers = 1))
        val e = shouldThrow<AssertionError> {
            assertSerializable(w, emptyList(), timeout = 500.milliseconds) { submit(Target.Sub, StuckSecondTime, TaskArgs.EMPTY) }
        }
        e.message!! shouldContain "did not finish on the worker within 500ms"
        w.run { } // the worker is usable again: the stuck task was interrupted
    }

    test("programs the reference cannot run sequentially are refused with the reason") {
        val w = strata.worker(WorkerConfig(level = 3, subWorkers = 1))
        shouldThrow<UnsupportedOperationException> {
            assertSerializable(w, emptyList()) { gate("g") }
        }.message!! shouldContain "cannot wait for a gate"
    }
})
