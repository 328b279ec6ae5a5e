package dev.strata.process

import dev.strata.shm.SharedMemoryFile
import dev.strata.worker.Isolation
import dev.strata.worker.Worker
import dev.strata.worker.WorkerConfig
import io.kotest.assertions.fail
import io.kotest.core.spec.style.FunSpec
import io.kotest.matchers.shouldBe
import java.nio.file.Files
import java.nio.file.Path
import java.util.concurrent.TimeUnit

/**
 * The parent side of [ParentDeathSpec]: a JVM that starts a worker with two child processes, prints
 * their pids, and waits to be killed.
 */
object OrphaningParent {
    @JvmStatic
    fun main(args: Array<String>) {
        val w = Worker(WorkerConfig(level = 3, subWorkers = 2, subIsolation = Isolation.PROCESS))
        w.hostTensor(dev.strata.tensor.DType.I32, 16) // a shared buffer file too
        println("CHILDREN " + w.childPids.values.joinToString(" "))
        System.out.flush()
        Thread.sleep(120_000)
    }
}

class ParentDeathSpec : FunSpec({
    afterEach { assertNoLeftovers() }

    test("children die with a SIGKILLed parent within 2 s, and the next start sweeps the parent's shared memory") {
        val java = Path.of(System.getProperty("java.home"), "bin", "java").toString()
        val parent = ProcessBuilder(
            java, "--enable-native-access=ALL-UNNAMED", "-cp", System.getProperty("java.class.path"), OrphaningParent::class.java.name,
        ).redirectError(ProcessBuilder.Redirect.DISCARD).start()
        try {
            val reader = parent.inputReader()
            var line: String
            do {
                line = reader.readLine() ?: fail("the parent JVM exited without naming its children")
            } while (!line.startsWith("CHILDREN "))
            val children = line.removePrefix("CHILDREN ").split(' ').map { it.toLong() }
            children.size shouldBe 2
            children.all { ProcessHandle.of(it).map { p -> p.isAlive }.orElse(false) } shouldBe true
            val prefix = "${SharedMemoryFile.PREFIX}${parent.pid()}-"
            fun parentFiles() = Files.list(SharedMemoryFile.DIRECTORY).use { s -> s.filter { it.fileName.toString().startsWith(prefix) }.toList() }
            (parentFiles().size >= 4) shouldBe true // doorbell, 2 mailboxes, the buffer

            parent.destroyForcibly() // SIGKILL: no shutdown hook runs
            parent.waitFor(10, TimeUnit.SECONDS) shouldBe true
            val killedAt = System.nanoTime()
            while (children.any { ProcessHandle.of(it).isPresent } && System.nanoTime() - killedAt < 10_000_000_000L) Thread.sleep(10)
            val tookMs = (System.nanoTime() - killedAt) / 1_000_000
            children.filter { ProcessHandle.of(it).isPresent }.let { if (it.isNotEmpty()) fail("children $it outlived their parent by ${tookMs}ms") }
            (tookMs <= 2_000) shouldBe true

            parentFiles().isEmpty() shouldBe false // nobody cleaned up after the killed parent…
            Worker(WorkerConfig(level = 3, subWorkers = 1, subIsolation = Isolation.PROCESS)).close() // …until the next start
            parentFiles() shouldBe emptyList()
        } finally {
            parent.destroyForcibly()
        }
    }
})
