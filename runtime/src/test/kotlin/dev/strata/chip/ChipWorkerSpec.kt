package dev.strata.chip

import dev.strata.process.assertNoLeftovers
import dev.strata.process.liveChildren
import dev.strata.error.ChipException
import dev.strata.error.InvalidConfigException
import dev.strata.error.InvalidSubmitException
import dev.strata.error.SubmitProblem
import dev.strata.error.TaskFailedException
import dev.strata.error.WorkerStartException
import dev.strata.task.Target
import dev.strata.tensor.Buffer
import dev.strata.tensor.DType
import dev.strata.worker.Isolation
import dev.strata.worker.NextLevelChild
import dev.strata.worker.Worker
import dev.strata.worker.WorkerConfig
import io.kotest.assertions.throwables.shouldThrow
import io.kotest.assertions.withClue
import io.kotest.core.spec.style.FunSpec
import io.kotest.matchers.collections.shouldBeEmpty
import io.kotest.matchers.longs.shouldBeGreaterThan
import io.kotest.matchers.shouldBe
import io.kotest.matchers.shouldNotBe
import io.kotest.matchers.string.shouldContain
import io.kotest.matchers.types.shouldBeInstanceOf
import kotlin.time.Duration.Companion.seconds

/** A level-3 worker with [n] chips (configured by [chip]) and, unless [domain] is false, domain [DOMAIN] over all of them. */
internal fun chipWorker(
    n: Int,
    isolation: Isolation,
    domain: Boolean = true,
    windowBytes: Long = 4096,
    subs: Int = 0,
    chip: (Int) -> ChipConfig = { ChipConfig(it) },
): Worker = Worker(
    WorkerConfig(
        level = 3, subWorkers = subs, nextLevel = List(n) { NextLevelChild.Chip(chip(it)) }, chipIsolation = isolation,
        domains = if (domain) listOf(CommDomainSpec(DOMAIN, (0 until n).toList(), windowBytes, listOf(CommBufferSpec("b", DType.I64, 8)))) else emptyList(),
        closeTimeout = 5.seconds,
    ),
)

class ChipWorkerSpec : FunSpec({
    afterEach { assertNoLeftovers() }

    for (iso in listOf(Isolation.THREAD, Isolation.PROCESS)) {
        test("device memory: malloc, copy to the device, a kernel on the chip, copy back ($iso)") {
            chipWorker(2, iso, domain = false).use { w ->
                val host = w.hostTensor(DType.I32, 64).also { t -> for (i in 0 until 64L) t.setInt(i, i.toInt()) }
                val a = w.deviceTensor(1, DType.I32, 64, label = "a")
                val b = w.deviceTensor(1, DType.I32, 64, label = "b")
                w.copyToDevice(a, host)
                w.run { on(Target.Next(1), kernel(DoubleInts)) { input(a); output(b) } }
                val back = w.hostTensor(DType.I32, 64)
                w.copyFromDevice(back, b)
                for (i in 0 until 64L) back.getInt(i) shouldBe 2 * i.toInt()
                // The host cannot read device memory; a private host tensor is staged through shared memory.
                shouldThrow<UnsupportedOperationException> { a.getInt(0) }
                val private = Buffer.host(64 * 4).tensor(DType.I32, 64)
                w.copyFromDevice(private, a)
                private.getInt(63) shouldBe 63
                w.freeDevice(a)
                a.buffer.isReleased shouldBe true
                shouldThrow<InvalidSubmitException> { w.run { on(Target.Next(1), kernel(DoubleInts)) { input(a); output(b) } } }
                    .problems.single().shouldBeInstanceOf<SubmitProblem.ReleasedBuffer>()
            }
        }

        test("freeDevice: unused memory frees; memory a queued or running task uses is refused, naming the run and task (issue 13 §12, $iso)") {
            chipWorker(1, iso, domain = false).use { w ->
                w.freeDevice(w.deviceTensor(0, DType.I32, 4, label = "unused")) // no task ever touched it
                val d = w.deviceTensor(0, DType.I32, 1, label = "busy")
                val h = w.submit { on(Target.Next(0), ChainOnCoreZero, "slow") { inout(d); scalar(1); scalar(1_500) } }
                val e = shouldThrow<IllegalStateException> { w.freeDevice(d) }
                e.message shouldContain "cannot free 'busy' on chip 0"
                e.message shouldContain "task #1 'slow' of run #${h.id}"
                d.buffer.isReleased shouldBe false
                h.result(30.seconds)
                w.freeDevice(d) // the run is over: now it frees
                d.buffer.isReleased shouldBe true
            }
        }

        test("the chip context: device id, rank, ranks, device context handle, window base and size, named buffers ($iso)") {
            chipWorker(2, iso, windowBytes = 5000, chip = { ChipConfig(deviceId = 10 + it) }).use { w ->
                w.chipCount shouldBe 2
                for (c in 0 until 2) {
                    val ctx = w.chipContext(c)
                    ctx.deviceId shouldBe 10 + c
                    ctx.path shouldBe "L3 chip#$c"
                    val d = ctx.domain(DOMAIN)
                    d.rank shouldBe c
                    d.ranks shouldBe 2
                    d.windowSize shouldBe 8192 // 5000 B asked, whole pages given
                    d.windowBase shouldNotBe 0L
                    d.deviceContext shouldNotBe 0L
                    val b = d.buffer("b")
                    b.buffer.addressSpace shouldBe dev.strata.tensor.AddressSpace.Device(c)
                    b.elementCount shouldBe 8
                    shouldThrow<IllegalArgumentException> { ctx.domain("other") }.message shouldContain "not a member of domain 'other'"
                }
            }
        }

        test("windows start zeroed and kernels read peers' buffers through remote views ($iso)") {
            chipWorker(3, iso).use { w ->
                val outs = List(3) { w.deviceTensor(it, DType.I64, 1) }
                w.run { submitGroup(List(3) { Target.Next(it) }, kernel(ExchangeKernel), List(3) { r -> dev.strata.task.TaskArgs.build { output(outs[r]) } }, "exchange") }
                for (r in 0 until 3) {
                    val back = w.hostTensor(DType.I64, 1)
                    w.copyFromDevice(back, outs[r])
                    back.getLong(0) shouldBe 6L // 1 + 2 + 3
                }
            }
        }

        test("a kernel that throws fails the run with an error naming the chip, the core and the kernel ($iso)") {
            chipWorker(2, iso, domain = false).use { w ->
                val e = shouldThrow<TaskFailedException> { w.run { on(Target.Next(1), kernel(ExplodingKernel), "explode") } }
                e.workerPath shouldContain "L3 chip#1"
                e.workerPath shouldContain "core#0"
                e.taskName shouldBe "ExplodingKernel"
                e.errorClass shouldBe IllegalStateException::class.java.name
                e.message shouldContain "the kernel exploded on purpose"
                w.run { on(Target.Next(1), kernel(SleepKernel)) { scalar(0) } } // the next run is fine
            }
        }

        test("one chip failing its communicator init: one start-up error naming it, everything rolled back ($iso)") {
            val e = shouldThrow<WorkerStartException> {
                chipWorker(3, iso, chip = { ChipConfig(it, driver = FailingCommDriverFactory::class.java.name) }).close()
            }
            e.message shouldContain "L3 chip#1"
            e.message shouldContain "injected communicator failure on device 1"
        }
    }

    test("a domain created between runs may take longer than the chips' control deadline (startTimeout): the join's own timeout bounds it") {
        Worker(
            WorkerConfig(
                level = 3, nextLevel = List(2) { NextLevelChild.Chip(ChipConfig(it, driver = SlowCommDriverFactory::class.java.name)) },
                chipIsolation = Isolation.PROCESS, startTimeout = 3.seconds, closeTimeout = 5.seconds,
            ),
        ).use { w ->
            // Rank 1 needs 4 s to join, past the 3 s every other control request of a chip JVM gets.
            w.createDomain(CommDomainSpec("slow", listOf(0, 1), 4096), timeout = 15.seconds)
            w.chipContext(1).domain("slow").rank shouldBe 1
            w.ping(5.seconds).values.all { it != null } shouldBe true // neither chip JVM was declared unresponsive
        }
    }

    test("a device tensor given to another chip or a sub worker is rejected before dispatch") {
        chipWorker(2, Isolation.THREAD, domain = false, subs = 1).use { w ->
            val d1 = w.deviceTensor(1, DType.F32, 16, label = "weights")
            for (target in listOf(Target.Next(0), Target.Sub)) {
                val e = shouldThrow<InvalidSubmitException> { w.run { on(target, kernel(DoubleInts)) { input(d1); output(d1) } } }
                e.problems.first().shouldBeInstanceOf<SubmitProblem.Unaddressable>().message shouldContain "DEVICE(1), which $target cannot"
            }
        }
    }

    test("buffers that do not fit the window, and domain members that are not chips, are errors before any device work") {
        val e = shouldThrow<InvalidConfigException> {
            Worker(
                WorkerConfig(
                    level = 3, nextLevel = listOf(NextLevelChild.Chip(ChipConfig(0)), NextLevelChild.Plain),
                    domains = listOf(CommDomainSpec("small", listOf(0, 1), 64, listOf(CommBufferSpec("big", DType.F64, 100)))),
                ),
            )
        }
        e.message shouldContain "need 832 B"
        e.message shouldContain "not chips"
        liveChildren().shouldBeEmpty()
    }

    test("a driver whose malloc fails: the error names the chip and the operation (MockK)") {
        val driver = io.mockk.mockk<ChipDriver>(relaxed = true)
        io.mockk.every { driver.malloc(any()) } throws OutOfMemoryError("device heap exhausted")
        MockDriverFactory.next = driver
        chipWorker(1, Isolation.THREAD, domain = false, chip = { ChipConfig(it, driver = MockDriverFactory::class.java.name) }).use { w ->
            val e = shouldThrow<ChipException> { w.deviceTensor(0, DType.F32, 1024) }
            e.chipPath shouldBe "L3 chip#0"
            e.message shouldContain "malloc of 4096 B failed"
            e.message shouldContain "device heap exhausted"
        }
        io.mockk.verify { driver.open(0, any()) }
        io.mockk.verify { driver.close() }
    }

    test("a driver whose synchronize times out: the task fails naming the chip, and the chip refuses later work (MockK)") {
        val driver = io.mockk.mockk<ChipDriver>(relaxed = true)
        io.mockk.every { driver.synchronize(any(), any()) } throws java.util.concurrent.TimeoutException("the stream is stuck")
        MockDriverFactory.next = driver
        chipWorker(1, Isolation.THREAD, domain = false, chip = { ChipConfig(it, driver = MockDriverFactory::class.java.name, syncTimeout = 2.seconds) }).use { w ->
            val e = shouldThrow<TaskFailedException> { w.run { on(Target.Next(0), kernel(SleepKernel), "first") { scalar(0) } } }
            e.errorClass shouldBe ChipException::class.java.name
            e.message shouldContain "L3 chip#0: synchronize failed"
            e.message shouldContain "syncTimeout 2s"
            val again = shouldThrow<TaskFailedException> { w.run { on(Target.Next(0), kernel(SleepKernel), "second") { scalar(0) } } }
            again.message shouldContain "unusable"
            io.mockk.verify(exactly = 1) { driver.synchronize(any(), any()) }
        }
    }

    test("the device memory of a simulated chip is bounded by its configuration") {
        chipWorker(1, Isolation.THREAD, domain = false, chip = { ChipConfig(it, deviceMemoryBytes = 1L shl 20) }).use { w ->
            w.deviceTensor(0, DType.U8, 1L shl 19)
            shouldThrow<ChipException> { w.deviceTensor(0, DType.U8, 1L shl 20) }.message shouldContain "raise ChipConfig.deviceMemoryBytes"
            (w.chipContext(0).deviceId.toLong() + 1) shouldBeGreaterThan 0
        }
    }

    test("nothing native of CANN is loaded when only the sim driver is used (issue 14)") {
        // The chip JVMs are fresh processes (this test JVM may have loaded the emulator for the acl specs).
        chipWorker(2, Isolation.PROCESS).use { w ->
            val a = w.deviceTensor(0, DType.I32, 4)
            w.run { on(Target.Next(0), kernel(DoubleInts)) { input(a); output(a.buffer.tensor(DType.I32, 4)) } }
            w.childPids.size shouldBe 2
            for ((path, pid) in w.childPids) {
                val maps = java.nio.file.Files.readString(java.nio.file.Path.of("/proc/$pid/maps"))
                for (lib in listOf("libascendcl", "libhcomm", "libhccl")) withClue("$path maps $lib") { maps.contains(lib) shouldBe false }
            }
        }
    }
})
