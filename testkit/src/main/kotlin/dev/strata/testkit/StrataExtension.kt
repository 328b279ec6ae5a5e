package dev.strata.testkit

import dev.strata.shm.SharedMemoryFile
import dev.strata.worker.Worker
import dev.strata.worker.WorkerConfig
import io.kotest.core.listeners.AfterEachListener
import io.kotest.core.listeners.AfterSpecListener
import io.kotest.core.listeners.BeforeSpecListener
import io.kotest.core.spec.Spec
import io.kotest.core.test.TestCase
import io.kotest.engine.test.TestResult
import java.nio.file.Files
import java.util.concurrent.ConcurrentLinkedDeque
import kotlin.time.Duration
import kotlin.time.Duration.Companion.seconds

/**
 * A Kotest extension for specs that run Strata: it closes the workers a spec makes through it and fails a
 * test that leaves a child process or a Strata shared-memory file behind.
 *
 * Register it in a spec with [strataKit] (or `register(StrataExtension())`), make workers with [worker]
 * (or hand your own to [closing]); then after every test:
 * 1. the workers made during that test are closed, newest first (those made in the spec's body, outside
 *    any test, are closed after the spec);
 * 2. with [checkLeaks], the test fails if this JVM still has a live child process (after up to
 *    [exitGrace] for exiting ones) or a `/dev/shm/strata-<this pid>-…` file (a mailbox, a heap, a domain
 *    window): the message names each process (pid and command line) and file. They are then removed, so one
 *    leaky test does not fail the next.
 *
 * Guarantees: the check sees every child process of this JVM, Strata's or not (a spec that starts its own
 * must stop them); it runs after every test, whether the test passed or failed.
 */
public class StrataExtension(
    private val checkLeaks: Boolean = true,
    private val exitGrace: Duration = 5.seconds,
) : BeforeSpecListener, AfterEachListener, AfterSpecListener {
    private val specWorkers = ConcurrentLinkedDeque<AutoCloseable>()
    private val testWorkers = ConcurrentLinkedDeque<AutoCloseable>()

    @Volatile
    private var inTest = false

    /** A new worker with [config], closed after the current test (or after the spec, when made outside a test). */
    public fun worker(config: WorkerConfig): Worker = closing(Worker(config))

    /** Registers [closeable] (a worker made another way: the DSL's `worker { }`, the Java facade) to be closed like [worker]'s. */
    public fun <T : AutoCloseable> closing(closeable: T): T = closeable.also { (if (inTest) testWorkers else specWorkers).push(it) }

    override suspend fun beforeSpec(spec: Spec) {
        inTest = true // the spec's body has run: what is made from now on belongs to a test
    }

    override suspend fun afterEach(testCase: TestCase, result: TestResult) {
        val closeFailure = closeAll(testWorkers)
        if (checkLeaks) checkNoLeftovers("test '${testCase.name.name}'")
        closeFailure?.let { throw it }
    }

    override suspend fun afterSpec(spec: Spec) {
        val closeFailure = closeAll(specWorkers)
        if (checkLeaks) checkNoLeftovers("spec ${spec::class.simpleName}")
        closeFailure?.let { throw it }
    }

    private fun closeAll(workers: ConcurrentLinkedDeque<AutoCloseable>): Throwable? {
        var first: Throwable? = null
        while (true) {
            val w = workers.pollFirst() ?: break
            try {
                w.close()
            } catch (e: Throwable) {
                if (first == null) first = e else first.addSuppressed(e)
            }
        }
        return first
    }

    private fun checkNoLeftovers(where: String) {
        Leftovers.find(exitGrace)?.let { throw AssertionError("$where left ${it.describe()}. ${Leftovers.ADVICE}") }
    }
}

/** Registers a [StrataExtension] in this spec and returns it: `val strata = strataKit()`, then `strata.worker(…)`. */
public fun Spec.strataKit(checkLeaks: Boolean = true): StrataExtension = register(StrataExtension(checkLeaks))

/** What a test left behind: this JVM's live child processes and Strata shared-memory files. */
public object Leftovers {
    /** What to do about leftovers, for messages. */
    public const val ADVICE: String =
        "Close every Worker (use { }, or make it through StrataExtension.worker so the kit closes it) and stop every process the test started"

    /** Leftover child processes and files, found (and then removed) after waiting up to [exitGrace] for exiting children; null if none. */
    public fun find(exitGrace: Duration = 5.seconds): Found? {
        val deadline = System.nanoTime() + exitGrace.inWholeNanoseconds
        while (liveChildren().isNotEmpty() && System.nanoTime() < deadline) Thread.sleep(10)
        val found = Found(liveChildren().map { p -> "${p.pid()} (${p.info().commandLine().orElse("?").take(160)})" }, shmFiles())
        if (found.processes.isEmpty() && found.files.isEmpty()) return null
        liveChildren().forEach { it.destroyForcibly() }
        found.files.forEach { f -> Files.deleteIfExists(SharedMemoryFile.DIRECTORY.resolve(f)) }
        return found
    }

    /** Child processes (pid and command line) and `/dev/shm` file names. */
    public class Found(public val processes: List<String>, public val files: List<String>) {
        /** One phrase naming them all. */
        public fun describe(): String = listOfNotNull(
            processes.takeIf { it.isNotEmpty() }?.let { "${it.size} child process(es): ${it.joinToString("; ")}" },
            files.takeIf { it.isNotEmpty() }?.let { "${it.size} shared-memory file(s) in /dev/shm: ${it.joinToString()}" },
        ).joinToString(" and ")
    }

    private fun liveChildren(): List<ProcessHandle> = ProcessHandle.current().children().filter { it.isAlive }.toList()

    /** This JVM's Strata files in /dev/shm (not its owner lock, held for the JVM's life), and HCCL emulator rendezvous files. */
    private fun shmFiles(): List<String> {
        val dir = SharedMemoryFile.DIRECTORY
        val pid = ProcessHandle.current().pid()
        val own = "${SharedMemoryFile.PREFIX}$pid-"
        return Files.list(dir).use { s ->
            s.map { it.fileName.toString() }.filter { (it.startsWith(own) && !it.startsWith("${own}owner-")) || it.startsWith("hccl-emu-$pid-") }.toList()
        }
    }
}
