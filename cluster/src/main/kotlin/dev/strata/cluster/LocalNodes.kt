package dev.strata.cluster

import dev.strata.chip.ChipConfig
import dev.strata.worker.Isolation
import java.io.BufferedReader
import java.io.InputStreamReader
import java.util.concurrent.CompletableFuture
import java.util.concurrent.TimeUnit
import kotlin.time.Duration
import kotlin.time.Duration.Companion.seconds

/**
 * Level-3 nodes in JVMs of their own on this host's loopback: what `strata run allreduce --hosts N` and
 * the multi-JVM tests use to play several hosts. Each node runs [NodeProcess] with this JVM's `java` and
 * classpath (or [classpath]), joins [seed] (or starts a cluster) and reports its address; [close]
 * stops it (SIGTERM, then SIGKILL after a grace) so nothing is left behind.
 */
public class LocalNode private constructor(
    /** The node's process. */
    public val process: Process,
    /** The node's `host:port`. */
    public val hostPort: String,
    private val output: StringBuffer,
) : AutoCloseable {
    /** What the node printed (stdout and stderr) so far: for failure messages. */
    public val log: String get() = output.toString()

    /**
     * Stops the node: SIGTERM (it leaves the cluster, stops its actor system, then closes its worker: its
     * chip JVMs release what they hold, such as an HCCL rendezvous in /dev/shm), SIGKILL after [grace].
     * Never throws.
     */
    public fun close(grace: Duration) {
        if (!process.isAlive) return
        process.destroy()
        awaitOrKill(grace)
    }

    private fun awaitOrKill(grace: Duration) {
        if (!process.waitFor(grace.inWholeMilliseconds, TimeUnit.MILLISECONDS)) {
            process.destroyForcibly()
            process.waitFor(5, TimeUnit.SECONDS)
        }
    }

    override fun close(): Unit = close(GRACE)

    override fun toString(): String = "LocalNode($hostPort, pid ${process.pid()})"

    public companion object {
        /**
         * How long [close] waits after SIGTERM. A node's orderly stop takes seconds here (leaving the cluster
         * up to 2.5 s, stopping the actor system, then its chip JVMs); a SIGKILL before it ends kills the chip
         * JVMs with it (they die with their parent) before they release their shared memory.
         */
        public val GRACE: Duration = 20.seconds

        /** Stops [nodes] together: SIGTERM to each, then waits for each (SIGKILL after [grace]). Never throws. */
        public fun closeAll(nodes: Collection<LocalNode>, grace: Duration = GRACE) {
            for (n in nodes) if (n.process.isAlive) n.process.destroy()
            for (n in nodes) n.awaitOrKill(grace)
        }

        init {
            // Nothing of ours on stdout: kotlin-logging's start-up line stays off unless the application chose.
            if (System.getProperty("kotlin-logging.logStartupMessage") == null) System.setProperty("kotlin-logging.logStartupMessage", "false")
        }

        /**
         * Starts a node JVM: a seed of a new cluster when [seed] is null, else joining it; on [port] (0:
         * any); serving a level-3 worker with [subWorkers] sub workers and [chips] chips of [driver] ([chipIsolation]).
         * The node inherits this process's environment (`ASCEND_HOME_PATH` for `acl` chips) and the properties
         * that say where chips find their runtime and kernels ([INHERITED]) unless [jvmOptions] sets them. Waits at most [timeout] for it to be Up; throws [IllegalStateException] with
         * its output otherwise (the process is killed).
         */
        public fun start(
            seed: String?,
            port: Int = 0,
            subWorkers: Int = 2,
            chips: Int = 0,
            chipIsolation: Isolation = Isolation.PROCESS,
            driver: String = ChipConfig.SIM,
            classpath: String = System.getProperty("java.class.path"),
            jvmOptions: List<String> = emptyList(),
            timeout: Duration = 60.seconds,
        ): LocalNode {
            val java = java.nio.file.Path.of(System.getProperty("java.home"), "bin", "java").toString()
            // Pekko 1.x calls sun.misc.Unsafe; the flag that allows it quietly exists from JDK 23 on (a JDK 22 refuses it).
            val unsafe = if (Runtime.version().feature() >= 23) listOf("--sun-misc-unsafe-memory-access=allow") else emptyList()
            val cmd = listOf(java, "-cp", classpath, "--enable-native-access=ALL-UNNAMED") + unsafe + listOf("-Xss4m") +
                inheritedProperties(jvmOptions) + jvmOptions +
                listOf(NodeProcess::class.java.name, seed ?: "-", port.toString(), subWorkers.toString(), chips.toString(), chipIsolation.name, driver)
            val p = ProcessBuilder(cmd).redirectErrorStream(true).start()
            val output = StringBuffer()
            val ready = CompletableFuture<String>()
            Thread({
                BufferedReader(InputStreamReader(p.inputStream)).useLines { lines ->
                    for (l in lines) {
                        output.append(l).append('\n')
                        if (l.startsWith(NodeProcess.READY)) ready.complete(l.removePrefix(NodeProcess.READY).trim())
                    }
                }
                ready.complete("")
            }, "strata-local-node-output").apply { isDaemon = true }.start()
            val hostPort = try {
                ready.get(timeout.inWholeMilliseconds, TimeUnit.MILLISECONDS)
            } catch (e: Exception) {
                ""
            }
            if (hostPort.isEmpty()) {
                p.destroyForcibly()
                p.waitFor(5, TimeUnit.SECONDS)
                throw IllegalStateException("node JVM (seed ${seed ?: "none"}) was not Up within $timeout; its output:\n$output")
            }
            return LocalNode(p, hostPort, output)
        }

        /** System properties a node JVM gets from this one: where `acl` chips load the runtime, and the child classpath. */
        public val INHERITED: List<String> = listOf("strata.ascend.home", "strata.child.classpath")

        private fun inheritedProperties(explicit: List<String>): List<String> =
            INHERITED.filter { k -> System.getProperty(k) != null && explicit.none { it.startsWith("-D$k=") } }.map { "-D$it=${System.getProperty(it)}" }
    }
}

/**
 * The main class of a [LocalNode]: `NodeProcess <seed|-> <port> <subWorkers> <chips> [PROCESS|THREAD] [sim|acl]`. Prints
 * `STRATA-NODE-READY host:port` once Up; leaves the cluster on SIGTERM; exits when its member stops or
 * when the process that started it is gone.
 */
public object NodeProcess {
    internal const val READY = "STRATA-NODE-READY "

    @JvmStatic
    public fun main(args: Array<String>) {
        require(args.size in 4..6) { "usage: NodeProcess <seed|-> <port> <subWorkers> <chips> [PROCESS|THREAD] [sim|acl]" }
        val seed = args[0].takeIf { it != "-" }
        val settings = NodeSettings(port = args[1].toInt(), seeds = listOfNotNull(seed))
        val isolation = args.getOrNull(4)?.let { Isolation.valueOf(it) } ?: Isolation.PROCESS
        val driver = args.getOrNull(5) ?: ChipConfig.SIM
        val node = ClusterNode.start(settings, ClusterNode.nodeWorker(args[2].toInt(), args[3].toInt(), driver, isolation))
        Runtime.getRuntime().addShutdownHook(Thread({ node.close() }, "strata-node-shutdown"))
        // A local node belongs to the process that started it: it never outlives it.
        ProcessHandle.current().parent().ifPresent { parent -> parent.onExit().thenRun { node.close(); Runtime.getRuntime().halt(70) } }
        println(READY + node.hostPort)
        System.out.flush()
        node.awaitTermination()
        node.close()
    }
}
