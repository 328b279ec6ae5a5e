package dev.strata.samples

import dev.strata.cluster.LocalNode
import dev.strata.cluster.remoteNode
import dev.strata.dsl.worker
import dev.strata.testkit.strataKit
import dev.strata.worker.Isolation
import io.kotest.core.spec.style.FunSpec
import io.kotest.matchers.shouldBe
import io.kotest.matchers.string.shouldContain



class AllreduceSampleSpec : FunSpec({
    strataKit()

    test("is registered as 'allreduce', first in the listing") {
        Samples.find("allreduce") shouldBe AllreduceSample
        Samples.all.first() shouldBe AllreduceSample
    }

    for (iso in listOf(Isolation.THREAD, Isolation.PROCESS)) {
        for (chips in listOf(2, 4, 8)) {
            test("$chips chips ($iso) sum every rank's buffer: PASS") {
                val (code, out) = capture {
                    AllreduceSample.run(AllreduceOptions(chips = chips, elements = 4099, iterations = 2, isolation = iso), it)
                }
                out shouldContain "PASS"
                out shouldContain "$chips sim chips"
                out shouldContain "GB/s"
                code shouldBe 0
            }
        }
    }

    test("a wrong element is reported with its rank, index and expected value, and exits 1") {
        val (code, out) = capture {
            AllreduceSample.run(AllreduceOptions(chips = 2, elements = 64, iterations = 1, isolation = Isolation.THREAD), it) { t -> t.setInt(5, -1) }
        }
        code shouldBe 1
        out shouldContain "FAIL: rank 0 element 5 is -1, expected 110 (= 2·5 + 100)"
    }

    test("bad options are usage errors: stderr, exit 2, nothing runs; --help lists the options") {
        val (code, out, err) = captureAll { AllreduceSample.run(listOf("--chips", "17"), it) }
        code shouldBe 2
        out shouldBe ""
        err shouldContain "--chips"
        err shouldContain "17 is not in the valid range of 2 to 16"
        err shouldContain "Usage: strata run allreduce"
        captureAll { AllreduceSample.run(listOf("--chips"), it) }.let { (c, _, e) -> c shouldBe 2; e shouldContain "option --chips requires a value" }
        captureAll { AllreduceSample.run(listOf("--chips", "4", "--elements", "2"), it) }.third shouldContain "--elements must be at least --chips (4)"
        val (helpCode, help) = capture { AllreduceSample.run(listOf("--help"), it) }
        helpCode shouldBe 0
        help shouldContain "Usage: strata run allreduce"
        help shouldContain "--hosts"
    }
})

/** The ACL emulator (native-bindings) and the sample's C kernels, or why `--driver acl` cannot run here. */
private val aclMissing: String? = run {
    val home = System.getenv("ASCEND_HOME_PATH")
    when {
        home == null || !java.io.File(home, "lib64/libascendcl.so").isFile -> "the ACL emulator is not built (gcc missing?): ASCEND_HOME_PATH=$home"
        else -> runCatching { AllreduceKernelFiles.aclKernels() }.exceptionOrNull()?.message
    }
}

/** `--driver acl` on the emulator: the C kernel and HcclAllReduce give, bit for bit, what the sim driver gives. */
class AllreduceAclSampleSpec : FunSpec({
    strataKit()
    val needsAcl: (io.kotest.core.test.TestCase) -> io.kotest.core.test.Enabled = {
        if (aclMissing == null) io.kotest.core.test.Enabled.enabled else io.kotest.core.test.Enabled.disabled(aclMissing)
    }

    for (chips in listOf(2, 4)) {
        test("--driver acl on $chips chips: PASS, and every rank's bits equal the sim driver's").config(enabledOrReasonIf = needsAcl) {
            val (code, out) = capture { AllreduceSample.run(listOf("--driver", "acl", "--chips", "$chips", "--elements", "70001", "--iterations", "2"), it) }
            out shouldContain "PASS"
            out shouldContain "$chips acl chips"
            code shouldBe 0
            val m = 70_001L
            val results = listOf("sim", "acl").associateWith { d ->
                AllreduceSample.open(AllreduceOptions(chips = chips, elements = m, driver = d)).use { w ->
                    AllreduceJob(w, chips, m, d).also { it.iterate() }.readBack().map { t -> IntArray(m.toInt()) { t.getInt(it.toLong()) } }
                }
            }
            for (r in 0 until chips) results.getValue("acl")[r].contentEquals(results.getValue("sim")[r]) shouldBe true
        }
    }

    test("--driver is sim or acl") {
        val (code, _, err) = captureAll { AllreduceSample.run(listOf("--driver", "cuda"), it) }
        code shouldBe 2
        err shouldContain "invalid value for --driver: invalid choice: cuda. (choose from sim, acl)"
    }
})

/**
 * `--hosts`: the allreduce over chips of several hosts (issue 15) — node JVMs on loopback joined by Pekko
 * Cluster, a level-4 worker over them, within-host sums through each host's chip domain and the
 * cross-host sum in the level-4 program; every rank's bytes checked.
 */
class AllreduceHostsSpec : FunSpec({
    strataKit()

    test("2 hosts × 2 chips: PASS; a wrong element on a host is reported and exits 1") {
        val (code, out) = capture {
            AllreduceSample.run(AllreduceOptions(chips = 2, hosts = 2, elements = 70_001, iterations = 2, isolation = Isolation.THREAD), it)
        }
        out shouldContain "2 hosts"
        out shouldContain "PASS: all 4 ranks on 2 hosts"
        code shouldBe 0
    }

    test("a wrong element is reported with its global rank") {
        val (code, out) = capture {
            AllreduceSample.run(AllreduceOptions(chips = 2, hosts = 2, elements = 64, iterations = 1, isolation = Isolation.THREAD), it) { t -> t.setInt(7, 0) }
        }
        code shouldBe 1
        out shouldContain "FAIL: rank 0 element 7 is 0, expected 628 (= 4·7 + 600)"
    }

    // Each node's chips fill their inputs with the C kernel (global rank = host·C + domain rank) and sum them
    // with HcclAllReduce on the emulator; a wrong rank offset or a node on the wrong driver fails the check.
    test("--driver acl across 2 hosts × 2 chips (chip JVMs in each node): PASS").config(
        enabledOrReasonIf = { if (aclMissing == null) io.kotest.core.test.Enabled.enabled else io.kotest.core.test.Enabled.disabled(aclMissing) },
    ) {
        fun rendezvous() = java.io.File("/dev/shm").list { _, n -> n.startsWith("hccl-emu-") }.orEmpty().toSet()
        val before = rendezvous()
        val (code, out) = capture { AllreduceSample.run(listOf("--hosts", "2", "--chips", "2", "--driver", "acl", "--elements", "70001", "--iterations", "2"), it) }
        out shouldContain "2 hosts (node JVMs on loopback) × 2 acl chips (child JVMs)"
        out shouldContain "PASS: all 4 ranks on 2 hosts"
        code shouldBe 0
        // Each node stopped in order, so its chip JVMs destroyed their communicators: no HCCL rendezvous is left behind.
        (rendezvous() - before) shouldBe emptySet()
    }
})

/** A level-4 worker whose nodes own chips — one a level-3 worker in this JVM, one a remote node JVM — runs the hosts' allreduce. */
class MixedNodesAllreduceSpec : FunSpec({
    strataKit()

    test("a local level-3 worker with chips and a remote node with chips: the same level-4 program, every rank right") {
        LocalNode.start(seed = null, subWorkers = 1, chips = 2, chipIsolation = Isolation.THREAD).use { remote ->
            worker(level = 4) {
                subWorkers(1)
                nextLevelWorker {
                    subWorkers(1)
                    chipIsolation = Isolation.PROCESS
                    chips(0 until 2)
                }
                remoteNode(remote.hostPort)
            }.use { l4 ->
                val job = HostsJob(l4, chipsPerHost = 2, m = 5003)
                repeat(2) { job.iterate() }
                AllreduceJob.firstWrong(job.ranks(), 4) shouldBe null
            }
        }
    }
})
