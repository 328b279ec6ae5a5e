package dev.strata.chip

import dev.strata.error.ChipException
import dev.strata.error.TaskFailedException
import dev.strata.error.WorkerDiedException
import dev.strata.error.WorkerStartException
import dev.strata.nativebind.acl.AclLibrary
import dev.strata.process.assertNoLeftovers
import dev.strata.task.KernelArgs
import dev.strata.task.TaskArgs
import dev.strata.task.TaskCallable
import dev.strata.task.TaskContext
import dev.strata.task.Target
import dev.strata.tensor.DType
import dev.strata.tensor.Tensor
import dev.strata.testing.HANG_GUARD
import dev.strata.testing.waitUntil
import dev.strata.worker.Isolation
import dev.strata.worker.NextLevelChild
import dev.strata.worker.Worker
import dev.strata.worker.WorkerConfig
import io.kotest.assertions.throwables.shouldThrow
import io.kotest.core.spec.style.FunSpec
import io.kotest.core.test.Enabled
import io.kotest.core.test.TestCase
import io.kotest.matchers.collections.shouldBeEmpty
import io.kotest.matchers.shouldBe
import io.kotest.matchers.string.shouldContain
import java.lang.foreign.Arena
import java.lang.foreign.FunctionDescriptor
import java.lang.foreign.Linker
import java.lang.foreign.ValueLayout
import kotlin.time.Duration.Companion.milliseconds
import kotlin.time.Duration.Companion.seconds

/** The kernel module holding `add_i32` and `sleep_ms` under the chip's driver. */
internal fun testKernels(driver: String): String =
    if (driver == ChipConfig.SIM) ContractSimKernels::class.java.name
    else "${System.getenv("ASCEND_HOME_PATH") ?: System.getProperty("strata.ascend.home")}/kernels/test_kernels.so"

/** Chip program, the same under every driver: `add_i32(data, rank + 1)` on the device, then the device's all-reduce of `data` into `out`. */
internal object AddThenAllReduce : TaskCallable {
    override fun call(context: TaskContext) {
        val data = context.tensor(0)
        val out = context.tensor(1)
        val chip = context.chip
        val comm = chip.comm(context.scalar(0).let { if (it == 0L) "ar" else "late" })
        val add = chip.kernel(testKernels(chip.driver), "add_i32")
        chip.launch(add, 2, KernelArgs.Builder().pointer(data).long(data.elementCount).int(comm.rank + 1).build())
        comm.allReduce(data, out)
    }
}

/** Chip program: rank 1 sleeps in the JVM (so its chip can be killed), the others enter the all-reduce and wait for it. */
internal object SlowPeerAllReduce : TaskCallable {
    override fun call(context: TaskContext) {
        val comm = context.chip.comm("ar")
        if (comm.rank == 1) Thread.sleep(60_000)
        comm.allReduce(context.tensor(0), context.tensor(1))
    }
}

/** Chip program: the device sleeps `scalar(0)` ms (a long run). */
internal object DeviceSleep : TaskCallable {
    override fun call(context: TaskContext) {
        val chip = context.chip
        chip.launch(chip.kernel(testKernels(chip.driver), "sleep_ms"), 1, KernelArgs.Builder().long(context.scalar(0)).build())
    }
}

/** The emulator's fault knob (not an ACL symbol): the next [count] calls of [fn] fail with [code]. */
internal fun injectAclFault(fn: String, code: Int, count: Int = 1) {
    val h = Linker.nativeLinker().downcallHandle(
        AclLibrary.lookup().find("aclEmuInjectFault").orElseThrow(),
        FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.ADDRESS, ValueLayout.JAVA_INT, ValueLayout.JAVA_INT),
    )
    Arena.ofConfined().use { a -> (h.invokeExact(a.allocateFrom(fn), code, count) as Int) shouldBe 0 }
}

/** The emulator's HCCL fault knob (not an HCCL symbol): the next [fn] call of [rank] fails with [code]. */
internal fun injectHcclFault(fn: String, rank: Int, code: Int) {
    val h = Linker.nativeLinker().downcallHandle(
        AclLibrary.loadOrNull("libhcomm.so")!!.find("hcclEmuInjectFault").orElseThrow(),
        FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.ADDRESS, ValueLayout.JAVA_INT, ValueLayout.JAVA_INT),
    )
    Arena.ofConfined().use { a -> (h.invokeExact(a.allocateFrom(fn), rank, code) as Int) shouldBe 0 }
}

private fun aclWorker(n: Int, iso: Isolation, driver: String, elements: Long, domain: Boolean = true, chip: (Int) -> ChipConfig = { ChipConfig(it, driver = driver) }) = Worker(
    WorkerConfig(
        level = 3, nextLevel = List(n) { NextLevelChild.Chip(chip(it)) }, chipIsolation = iso, closeTimeout = 5.seconds,
        domains = if (domain) listOf(CommDomainSpec("ar", (0 until n).toList(), elements * 4, listOf(CommBufferSpec("data", DType.I32, elements)))) else emptyList(),
    ),
)

/** Runs [AddThenAllReduce] over every chip of [w] (domain `ar`, or `late` when [late]); returns each rank's result. */
private fun addThenAllReduce(w: Worker, n: Int, m: Long, late: Boolean = false): List<IntArray> {
    val name = if (late) "late" else "ar"
    val data = List(n) { r -> w.chipContext(r).domain(name).buffer("data") }
    for (r in 0 until n) w.copyToDevice(data[r], w.hostTensor(DType.I32, m).also { t -> for (i in 0 until m) t.setInt(i, (i + 100 * r).toInt()) })
    val outs = List(n) { r -> w.deviceTensor(r, DType.I32, m, label = "out#$r") }
    w.run { submitGroup(List(n) { Target.Next(it) }, AddThenAllReduce, List(n) { r -> TaskArgs.build { inout(data[r]); outputExisting(outs[r]); scalar(if (late) 1 else 0) } }, "add+allreduce") }
    return outs.map { o -> w.hostTensor(DType.I32, m).also { w.copyFromDevice(it, o) }.let { t -> IntArray(m.toInt()) { t.getInt(it.toLong()) } } }
}

private fun expected(n: Int, m: Long): IntArray = IntArray(m.toInt()) { i -> (0 until n).sumOf { r -> i + 100 * r + r + 1 } }

/**
 * Chips under the `acl` driver in a worker, against the emulator (issue 14 §3): the same chip program as
 * under `sim` (a kernel binary, then the device's all-reduce) gives the same bits; domains come and go
 * between runs; the acl fault paths end runs with errors that name the chip and the cause.
 */
class AclWorkerSpec : FunSpec({
    afterEach { assertNoLeftovers() }
    val needsEmulator: (TestCase) -> Enabled = { if (emulatorMissing == null) Enabled.enabled else Enabled.disabled(emulatorMissing) }

    for (iso in listOf(Isolation.THREAD, Isolation.PROCESS)) {
        test("a kernel binary and HcclAllReduce on 3 acl chips give the sim driver's bits ($iso)").config(enabledOrReasonIf = needsEmulator) {
            val m = 100_000L
            val results = listOf(ChipConfig.SIM, ChipConfig.ACL).associateWith { d -> aclWorker(3, iso, d, m).use { w -> addThenAllReduce(w, 3, m) } }
            val want = expected(3, m)
            for ((d, res) in results) for ((r, got) in res.withIndex()) {
                val i = got.indices.firstOrNull { got[it] != want[it] }
                if (i != null) error("$d rank $r element $i is ${got[i]}, expected ${want[i]}")
            }
            for (r in 0 until 3) results.getValue(ChipConfig.ACL)[r].contentEquals(results.getValue(ChipConfig.SIM)[r]) shouldBe true
        }
    }

    for (driver in listOf(ChipConfig.SIM, ChipConfig.ACL)) {
        test("a domain created and released between runs; release waits for the runs that may use it ($driver)").config(
            enabledOrReasonIf = { if (driver == ChipConfig.SIM) Enabled.enabled else needsEmulator(it) },
        ) {
            val m = 4096L
            aclWorker(2, Isolation.PROCESS, driver, m, domain = false).use { w ->
                w.chipContext(0).domains.keys.shouldBeEmpty()
                val spec = CommDomainSpec("late", listOf(0, 1), m * 4, listOf(CommBufferSpec("data", DType.I32, m)))
                w.createDomain(spec)
                w.domainNames shouldBe setOf("late")
                w.chipContext(1).domain("late").rank shouldBe 1
                addThenAllReduce(w, 2, m, late = true).forEach { it.contentEquals(expected(2, m)) shouldBe true }
                // A run in flight keeps the domain: a short release wait refuses, naming the run; a longer one waits it out.
                val slow = w.submit { submit(Target.Next(0), DeviceSleep, TaskArgs.build { scalar(1500) }, "sleep") }
                shouldThrow<IllegalStateException> { w.releaseDomain("late", 100.milliseconds) }.message shouldContain "did not finish"
                w.domainNames shouldBe setOf("late")
                w.releaseDomain("late")
                slow.isDone shouldBe true
                w.domainNames.shouldBeEmpty()
                w.chipContext(0).domains.keys.shouldBeEmpty()
                shouldThrow<IllegalArgumentException> { w.releaseDomain("late") }.message shouldContain "no domain 'late'"
                w.createDomain(spec) // the name is free again
                addThenAllReduce(w, 2, m, late = true).forEach { it.contentEquals(expected(2, m)) shouldBe true }
            }
        }
    }

    test("an acl chip SIGKILLed mid-collective: the run fails naming it, and its peer's all-reduce ends at once").config(enabledOrReasonIf = needsEmulator) {
        val m = 1024L
        aclWorker(2, Isolation.PROCESS, ChipConfig.ACL, m).use { w ->
            val data = List(2) { r -> w.chipContext(r).domain("ar").buffer("data") }
            val outs = List(2) { r -> w.deviceTensor(r, DType.I32, m) }
            val pid = w.childPids.getValue("L3 chip#1")
            val handle = w.submit { submitGroup(List(2) { Target.Next(it) }, SlowPeerAllReduce, List(2) { r -> TaskArgs.build { input(data[r]); outputExisting(outs[r]) } }, "collective") }
            Thread.sleep(500) // rank 0 waits in HcclAllReduce, rank 1 sleeps in its program
            ProcessHandle.of(pid).get().destroyForcibly()
            waitUntil("the run fails", HANG_GUARD) { handle.isDone }
            val e = shouldThrow<WorkerDiedException> { handle.result() }
            e.workerPath shouldBe "L3 chip#1"
            e.message shouldContain "SIGKILL"
            // The survivor is usable: its stream reported the broken communicator and it runs new work.
            w.run { submit(Target.Next(0), DeviceSleep, TaskArgs.build { scalar(1) }, "after") }
        }
    }

    test("an acl domain whose rank 1 fails HcclCommInitRootInfo: the worker does not start, naming it; everything rolled back").config(enabledOrReasonIf = needsEmulator) {
        injectHcclFault("HcclCommInitRootInfo", 1, 15) // HCCL_E_RUNTIME
        val e = shouldThrow<WorkerStartException> { aclWorker(3, Isolation.THREAD, ChipConfig.ACL, 1024) }
        e.message shouldContain "domain 'ar' rank 1 (L3 chip#1)"
        e.message shouldContain "HcclCommInitRootInfo(rank 1 of 3) failed: 15 HCCL_E_RUNTIME"
        // Ranks 0 and 2 waited for rank 1 until HCCL's connect timeout (5 s in the tests), then everything was undone.
        e.message shouldContain "rank 0 (L3 chip#0)"
        // The next worker starts cleanly on the same devices.
        aclWorker(3, Isolation.THREAD, ChipConfig.ACL, 1024).use { w -> addThenAllReduce(w, 3, 1024).forEach { it.contentEquals(expected(3, 1024)) shouldBe true } }
    }

    test("acl faults name the chip and the cause: device OOM at malloc, a kernel failing at synchronize, a sync timeout (507046)").config(enabledOrReasonIf = needsEmulator) {
        aclWorker(1, Isolation.THREAD, ChipConfig.ACL, 16, domain = false) { ChipConfig(it, driver = ChipConfig.ACL, syncTimeout = 5.seconds) }.use { w ->
            injectAclFault("aclrtMalloc", 207001)
            val oom = shouldThrow<ChipException> { w.deviceTensor(0, DType.F32, 1024) }
            oom.message shouldContain "L3 chip#0: malloc of 4096 B failed"
            oom.message shouldContain "207001"
            val d = w.deviceTensor(0, DType.I32, 16)
            injectAclFault("add_i32", 507015) // the kernel traps on the device
            val trap = shouldThrow<TaskFailedException> { w.run { submit(Target.Next(0), AddOne, TaskArgs.build { inout(d) }, "trap") } }
            trap.message shouldContain "'add_i32'"
            trap.message shouldContain "507015"
            w.run { submit(Target.Next(0), AddOne, TaskArgs.build { inout(d) }, "fine again") }
            injectAclFault("aclrtSynchronizeStreamWithTimeout", 507046)
            val timeout = shouldThrow<TaskFailedException> { w.run { submit(Target.Next(0), AddOne, TaskArgs.build { inout(d) }, "late") } }
            timeout.message shouldContain "synchronize failed"
            timeout.message shouldContain "unusable"
            shouldThrow<TaskFailedException> { w.run { submit(Target.Next(0), AddOne, TaskArgs.build { inout(d) }, "refused") } }.message shouldContain "unusable"
        }
    }
})

/** Chip program: `add_i32(tensor 0, 1)` only. */
internal object AddOne : TaskCallable {
    override fun call(context: TaskContext) {
        val data: Tensor = context.tensor(0)
        val chip = context.chip
        chip.launch(chip.kernel(testKernels(chip.driver), "add_i32"), 1, KernelArgs.Builder().pointer(data).long(data.elementCount).int(1).build())
    }
}
