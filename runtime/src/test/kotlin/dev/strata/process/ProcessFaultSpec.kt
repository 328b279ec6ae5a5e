package dev.strata.process

import dev.strata.dslless.submitTo
import dev.strata.nativebind.posix.signal_h
import dev.strata.error.InvalidCallableException
import dev.strata.shm.SharedMemoryFile
import dev.strata.tensor.Access
import dev.strata.tensor.AddressSpace
import dev.strata.tensor.Buffer
import dev.strata.tensor.DType
import java.lang.foreign.Arena
import java.nio.file.Files
import dev.strata.error.ProtocolException
import dev.strata.error.TaskFailedException
import dev.strata.error.WorkerDiedException
import dev.strata.error.WorkerStartException
import dev.strata.task.TaskArgs
import dev.strata.task.Target
import dev.strata.testing.HANG_GUARD
import dev.strata.worker.Isolation
import dev.strata.worker.NextLevelChild
import dev.strata.worker.Worker
import dev.strata.worker.WorkerConfig
import io.kotest.assertions.throwables.shouldThrow
import io.kotest.core.spec.style.FunSpec
import io.kotest.matchers.collections.shouldHaveSize
import io.kotest.matchers.shouldBe
import io.kotest.matchers.shouldNotBe
import io.kotest.matchers.string.shouldContain
import io.kotest.matchers.string.shouldNotContain
import io.kotest.matchers.types.shouldBeInstanceOf
import kotlin.time.Duration.Companion.milliseconds
import kotlin.time.Duration.Companion.seconds

private fun procWorker(subs: Int = 1, vararg callables: dev.strata.task.TaskCallable, startTimeout: kotlin.time.Duration = 30.seconds) =
    Worker(
        WorkerConfig(
            level = 3, subWorkers = subs, subIsolation = Isolation.PROCESS, callables = callables.toList(),
            startTimeout = startTimeout, closeTimeout = 2.seconds,
        ),
    )

class ProcessFaultSpec : FunSpec({
    afterEach { assertNoLeftovers() }

    test("an exception in a child fails the run with the child's path, the original class and the whole message") {
        procWorker().use { w ->
            val e = shouldThrow<TaskFailedException> { w.run { submitTo(Target.Sub, Throws, name = "boom") } }
            e.workerPath shouldBe "L3 sub#0"
            e.taskName shouldBe "boom"
            e.errorClass shouldBe "java.lang.IllegalStateException"
            e.errorMessage shouldBe "kernel exploded\non member 0"
            e.errorStack shouldContain "Throws.call"
            e.cause.shouldBeInstanceOf<dev.strata.error.RemoteException>()
            // The child survives its task's exception and takes the next one.
            w.run { submitTo(Target.Sub, NoOp) }
        }
    }

    test("a child that exits mid-task fails the task with WorkerDiedException and its exit code; a fresh child runs later tasks") {
        procWorker().use { w ->
            val e = shouldThrow<WorkerDiedException> {
                w.submit { submitTo(Target.Sub, Exits, TaskArgs.build { scalar(3) }, "crash") }.result(HANG_GUARD)
            }
            e.workerPath shouldBe "L3 sub#0"
            e.exitCode shouldBe 3
            e.signal shouldBe null
            e.message!! shouldContain "task #1 'crash'"
            e.message!! shouldContain "exited with code 3"
            e.replaced shouldBe true
            e.message!! shouldContain "A fresh child JVM replaces it"
            w.submit { submitTo(Target.Sub, NoOp) }.result(HANG_GUARD) // on the replacement
            w.childPids.getValue("L3 sub#0") shouldNotBe e.pid
        }
    }

    test("a child SIGKILLed mid-task fails the run within a bound with WorkerDiedException naming the signal") {
        procWorker(subs = 2).use { w ->
            val h = w.submit { submitTo(Target.Sub, Sleeps, TaskArgs.build { scalar(60_000) }, "long") }
            Thread.sleep(300) // let it start
            // The busy child cannot answer a ping (it is queued behind the task); the idle one can.
            val busy = w.ping(500.milliseconds).filterValues { it == null }.keys.single()
            val victim = w.childPids.getValue(busy)
            java.lang.foreign.Arena.ofConfined().use { a ->
                signal_h.kill(dev.strata.nativebind.posix.errno_h.allocateCapture(a), victim.toInt(), signal_h.SIGKILL) shouldBe 0
            }
            val e = shouldThrow<WorkerDiedException> { h.result(HANG_GUARD) }
            e.signal shouldBe 9
            e.message!! shouldContain "SIGKILL"
            e.message!! shouldContain "'long'"
        }
    }

    test("a child that hangs at start-up: one WorkerStartException at the deadline, everything rolled back") {
        val e = shouldThrow<WorkerStartException> { procWorker(2, HangsAtInit(), startTimeout = 3.seconds) }
        e.failures shouldHaveSize 2
        e.failures[0] shouldContain "L3 sub#0: did not report ready within 3s"
        e.message!! shouldContain "startTimeout"
    }

    test("a callable whose class initialiser blocks in the child: registration ends at its deadline and the child is replaced (issue 13 §4)") {
        procWorker(1, startTimeout = 4.seconds).use { w ->
            val pid = w.childPids.getValue("L3 sub#0")
            val e = shouldThrow<InvalidCallableException> {
                w.submit { submitTo(Target.Sub, HangsAtInit(), TaskArgs.EMPTY, "blocked") }.result(HANG_GUARD)
            }
            e.message!! shouldContain "HangsAtInit"
            e.message!! shouldContain "did not answer within 4s"
            e.message!! shouldContain "class initialiser"
            w.submit { submitTo(Target.Sub, NoOp) }.result(HANG_GUARD) // on a fresh child
            w.childPids.getValue("L3 sub#0") shouldNotBe pid
            val again = shouldThrow<InvalidCallableException> { w.register(HangsAtInit()) } // the explicit path is bounded too
            again.message!! shouldContain "did not answer within 4s"
        }
    }

    test("a child that dies during start-up fails the start at once, naming it and its exit status; its sibling is abandoned (issue 13 §9)") {
        val started = System.nanoTime()
        val e = shouldThrow<WorkerStartException> { procWorker(2, DiesOrHangsAtInit(), startTimeout = 60.seconds) }
        val tookSeconds = (System.nanoTime() - started) / 1_000_000_000
        e.failures shouldHaveSize 2
        e.failures[1] shouldContain "L3 sub#1: exited before reporting ready (pid "
        e.failures[1] shouldContain "exited with code 3"
        e.failures[0] shouldContain "L3 sub#0: stopped before it reported ready (start-up was abandoned when L3 sub#1 failed)"
        e.message!! shouldNotContain "raise WorkerConfig.startTimeout"
        (tookSeconds < 30) shouldBe true // hang guard far below the 60 s start timeout the old code waited out
    }

    test("a failed start shuts its healthy siblings down and leaves nothing of the whole subtree in shared memory (issue 13 §8)") {
        fun strataFiles(): Set<String> = Files.list(SharedMemoryFile.DIRECTORY).use { s ->
            s.map { it.fileName.toString() }.filter { it.startsWith(SharedMemoryFile.PREFIX) }.toList().toSet()
        }
        val before = strataFiles()
        val e = shouldThrow<WorkerStartException> {
            Worker(
                WorkerConfig(
                    level = 4, nextIsolation = Isolation.PROCESS, closeTimeout = 10.seconds,
                    nextLevel = listOf(
                        NextLevelChild.Config(WorkerConfig(level = 3, subWorkers = 1, subIsolation = Isolation.PROCESS)),
                        NextLevelChild.Config(WorkerConfig(level = 3, subWorkers = 1, subIsolation = Isolation.PROCESS, callables = listOf(BrokenAtInit()))),
                    ),
                ),
            )
        }
        e.message!! shouldContain "L4 node#1"
        // The healthy L3 (node#0) and its sub JVM are gone, and so is every file either of them created.
        (strataFiles() - before) shouldBe emptySet()
    }

    test("a child that fails its start-up: the error names the child and the child's message") {
        val e = shouldThrow<WorkerStartException> { procWorker(2, BrokenAtInit()) }
        e.failures shouldHaveSize 2
        e.failures[1] shouldContain "L3 sub#1: reported INIT_FAILED"
        e.failures[1] shouldContain "BrokenAtInit refuses to load in L3 sub#1"
    }

    for ((how, expected) in listOf(1 to "unknown state 77", 2 to "error length", 3 to "magic is 0xbad", 4 to "forged")) {
        test("a child that writes garbage ($expected) fails its task with ProtocolException; the parent carries on") {
            procWorker(subs = 1).use { w ->
                val e = shouldThrow<ProtocolException> {
                    w.submit { submitTo(Target.Sub, WritesGarbage, TaskArgs.build { scalar(how.toLong()) }) }.result(HANG_GUARD)
                }
                e.message!! shouldContain expected
                e.mailbox shouldContain "strata-"
            }
        }
    }

    test("a forged TASK_DONE is not a result: the answer seq does not match, the run fails, later runs do not hang (issue 13 §5)") {
        procWorker(subs = 1).use { w ->
            val out = w.hostTensor(dev.strata.tensor.DType.I64, 1, label = "out")
            val e = shouldThrow<ProtocolException> {
                w.submit {
                    submitTo(Target.Sub, WritesGarbage, TaskArgs.build { scalar(4); output(out) })
                }.result(HANG_GUARD)
            }
            e.message!! shouldContain "forged"
            e.message!! shouldContain "seq"
            repeat(2) { // the killed child is replaced: the next runs work instead of hanging
                w.submit { submitTo(Target.Sub, Sleeps, TaskArgs.build { scalar(1) }) }.result(HANG_GUARD)
            }
        }
    }

    test("a child maps only its own worker's segments and loads only task callables, whatever the mailbox names (issue 13 §17)") {
        procWorker(1).use { w ->
            val victim = Files.createTempFile("strata-victim", ".bin").also { Files.write(it, ByteArray(8) { 1 }) }
            val foreign = SharedMemoryFile.DIRECTORY.resolve("${SharedMemoryFile.PREFIX}1-buffer-00ff").also { Files.write(it, ByteArray(8)) }
            try {
                for ((path, why) in listOf(victim to "not a file directly in", foreign to "belongs to process 1")) {
                    val forged = Buffer(8, AddressSpace.Host, Access.READ_WRITE, "forged", Arena.ofAuto().allocate(8), sharedFile = path.toString())
                    val e = shouldThrow<TaskFailedException> {
                        w.submit { submitTo(Target.Sub, AddScalar, TaskArgs.build { inout(forged.tensor(DType.I64, 1)); scalar(5) }) }.result(HANG_GUARD)
                    }
                    e.message!! shouldContain "refusing to map '$path'"
                    e.message!! shouldContain why
                    Files.readAllBytes(path).toList() shouldBe (if (path == victim) List(8) { 1.toByte() } else List(8) { 0.toByte() })
                }
                val pid = w.childPids.getValue("L3 sub#0")
                val ep = w.children.processes!!.endpoints.single()
                val e = shouldThrow<java.util.concurrent.ExecutionException> {
                    ep.control(ControlOp.REGISTER, 99, "obj:${NotACallable::class.java.name}").get(10, java.util.concurrent.TimeUnit.SECONDS)
                }
                e.cause!!.message!! shouldContain "is not a TaskCallable"
                w.childPids.getValue("L3 sub#0") shouldBe pid // its initialiser never ran (it would have killed the child)
                w.submit { submitTo(Target.Sub, NoOp) }.result(HANG_GUARD)
            } finally {
                Files.deleteIfExists(victim)
                Files.deleteIfExists(foreign)
            }
        }
    }

    test("close with a child stuck in a task stops it within the close timeout plus a bounded kill") {
        val w = procWorker()
        w.submit { submitTo(Target.Sub, Sleeps, TaskArgs.build { scalar(120_000) }) }
        Thread.sleep(200)
        val start = System.nanoTime()
        w.close()
        val tookMs = (System.nanoTime() - start) / 1_000_000
        (tookMs < 20_000) shouldBe true // hang guard: close timeout 2 s (runs) + 2 s (children) + kill
    }

    test("the level-4 → level-3 child JVM → sub JVM error chain keeps both levels' paths and the original error") {
        val l3 = WorkerConfig(level = 3, subWorkers = 1, subIsolation = Isolation.PROCESS, closeTimeout = 2.seconds)
        Worker(
            WorkerConfig(
                level = 4, nextLevel = listOf(NextLevelChild.Config(l3)), nextIsolation = Isolation.PROCESS, closeTimeout = 5.seconds,
            ),
        ).use { w ->
            val x = w.hostTensor(dev.strata.tensor.DType.I32, 8)
            w.run { submitTo(Target.Next(0), NestedAdd, TaskArgs.build { inout(x); scalar(7) }) }
            x.getInt(3) shouldBe 7
            val e = shouldThrow<TaskFailedException> { w.run { submitTo(Target.Next(0), NestedFailure, name = "outer") } }
            e.workerPath shouldBe "L4 node#0 / L3 sub#0"
            e.taskName shouldBe "inner-kernel"
            e.errorClass shouldBe "java.lang.IllegalStateException"
            e.errorMessage shouldBe "kernel exploded\non member 0"
            e.message!! shouldContain "failed on L4 node#0 / L3 sub#0: java.lang.IllegalStateException: kernel exploded"
        }
    }
})
