package dev.strata.cluster

import dev.strata.chip.ChipConfig
import dev.strata.worker.Isolation
import dev.strata.worker.NextLevelChild
import dev.strata.worker.Worker
import dev.strata.worker.WorkerConfig
import io.github.oshai.kotlinlogging.KotlinLogging
import org.apache.pekko.actor.AddressFromURIString
import org.apache.pekko.actor.typed.ActorSystem
import org.apache.pekko.actor.typed.Behavior
import org.apache.pekko.actor.typed.javadsl.Behaviors
import org.apache.pekko.actor.typed.receptionist.Receptionist
import org.apache.pekko.actor.typed.receptionist.ServiceKey
import org.apache.pekko.cluster.MemberStatus
import org.apache.pekko.cluster.typed.Cluster
import org.apache.pekko.cluster.typed.Join
import org.apache.pekko.cluster.typed.JoinSeedNodes
import org.apache.pekko.cluster.typed.Leave
import java.util.concurrent.TimeUnit
import kotlin.time.Duration
import kotlin.time.Duration.Companion.seconds

private val log = KotlinLogging.logger {}

/** The receptionist key of level-3 nodes: a member with role `l3` registers its node actor under it. */
public val L3_NODES: ServiceKey<NodeCommand> = ServiceKey.create(NodeCommand::class.java, "strata-l3")

/**
 * One member of a Strata cluster (issue 15): an actor system named `strata` on [NodeSettings.hostname],
 * joined to its seeds (or to itself: a new cluster), and, when [worker] is given, a level-3 node serving
 * it — registered with the cluster's receptionist under [L3_NODES] so a level-4 program (and
 * `strata doctor --cluster`) finds it. [start] returns once this member is Up, or throws after
 * [NodeSettings.joinTimeout] having stopped everything it started. [close] leaves the cluster, stops
 * the actor system and closes the worker, each bounded.
 */
public class ClusterNode private constructor(
    /** The settings it runs with. */
    public val settings: NodeSettings,
    internal val system: ActorSystem<Void>,
    /** The level-3 worker this node serves, if it serves one. */
    public val worker: Worker?,
    private val service: NodeService?,
) : AutoCloseable {
    /** This member's address, `pekko://strata@host:port` (the port chosen when [NodeSettings.port] was 0). */
    public val address: String get() = Cluster.get(system).selfMember().address().toString()

    /** Requests whose results this node keeps for their callers now (tests). */
    internal val retainedRequests: Int get() = service?.retainedCount ?: 0

    /** `host:port` of this member: what another member passes as a seed. */
    public val hostPort: String
        get() = Cluster.get(system).selfMember().address().let { "${it.host.get()}:${it.port.get()}" }

    /** Whether this member is Up in the cluster. */
    public val isUp: Boolean get() = Cluster.get(system).selfMember().status() == MemberStatus.up()

    @Volatile
    private var closed = false

    /** Blocks until this member's actor system stopped ([close], or the cluster downed it). */
    public fun awaitTermination() {
        system.whenTerminated.toCompletableFuture().join()
    }

    /** Leaves the cluster and stops; waits at most [timeout] for each step. Idempotent; never throws. */
    public fun close(timeout: Duration) {
        if (closed) return
        closed = true
        runCatching {
            val cluster = Cluster.get(system)
            cluster.manager().tell(Leave.create(cluster.selfMember().address()))
            // Leaving hands this member's work over cleanly; a peer that is itself stopping may never confirm it: bounded.
            val deadline = System.nanoTime() + timeout.inWholeNanoseconds / 4
            val gone = setOf(MemberStatus.exiting(), MemberStatus.down(), MemberStatus.removed())
            while (System.nanoTime() < deadline && cluster.selfMember().status() !in gone && !cluster.isTerminated) Thread.sleep(20)
        }
        system.terminate()
        runCatching { system.whenTerminated.toCompletableFuture().get(timeout.inWholeMilliseconds, TimeUnit.MILLISECONDS) }
            .onFailure { log.warn { "cluster member ${settings.hostname}: the actor system did not stop within $timeout" } }
        service?.close()
        worker?.close()
    }

    override fun close(): Unit = close(CLOSE_TIMEOUT)

    override fun toString(): String = "ClusterNode($address, roles=${settings.roles})"

    public companion object {
        init {
            // Nothing of ours on stdout: kotlin-logging's start-up line stays off unless the application chose.
            if (System.getProperty("kotlin-logging.logStartupMessage") == null) System.setProperty("kotlin-logging.logStartupMessage", "false")
        }

        private val CLOSE_TIMEOUT = 10.seconds

        /**
         * Starts a member with [settings] serving [worker] (a level-3 worker this node then owns and closes;
         * null for an observer), joins the cluster and waits until this member is Up.
         * Throws [dev.strata.error.InvalidConfigException] for bad settings, [IllegalStateException] when it
         * was not Up within [NodeSettings.joinTimeout] (naming the seeds); closes [worker] on failure.
         */
        public fun start(settings: NodeSettings, worker: Worker?): ClusterNode {
            try {
                settings.validate()
            } catch (t: Throwable) {
                worker?.close()
                throw t
            }
            val service = try {
                worker?.let { NodeService(it, settings) }
            } catch (t: Throwable) {
                worker?.close()
                throw t
            }
            val system = try {
                ActorSystem.create(guardian(service), NodeSettings.SYSTEM, settings.toConfig())
            } catch (t: Throwable) {
                worker?.close()
                throw t
            }
            val node = ClusterNode(settings, system, worker, service)
            try {
                val cluster = Cluster.get(system)
                if (settings.seeds.isEmpty()) {
                    cluster.manager().tell(Join.create(cluster.selfMember().address()))
                } else {
                    cluster.manager().tell(JoinSeedNodes(settings.seeds.map { AddressFromURIString.parse(NodeSettings.seedAddress(it)) }))
                }
                val deadline = System.nanoTime() + settings.joinTimeout.inWholeNanoseconds
                while (!node.isUp) {
                    check(System.nanoTime() < deadline) {
                        "cluster member on ${settings.hostname} was not Up within ${settings.joinTimeout}" +
                            (if (settings.seeds.isEmpty()) "" else "; are the seeds ${settings.seeds} running and reachable (and is TLS configured alike)?")
                    }
                    Thread.sleep(10)
                }
                return node
            } catch (t: Throwable) {
                node.close(5.seconds)
                throw t
            }
        }

        /**
         * The level-3 worker `strata node` serves: [subWorkers] sub workers and [chips] chips of [driver], in
         * child JVMs or, with [chipIsolation] `THREAD`, in the node's own JVM.
         */
        public fun nodeWorker(subWorkers: Int, chips: Int, driver: String = ChipConfig.SIM, chipIsolation: Isolation = Isolation.PROCESS): Worker = Worker(
            WorkerConfig(
                level = 3, subWorkers = subWorkers, chipIsolation = chipIsolation,
                nextLevel = List(chips) { NextLevelChild.Chip(ChipConfig(it, driver = driver)) },
            ),
        )

        /** The root behaviour: spawns the node's actors (when it serves a worker) and registers the node actor. */
        private fun guardian(service: NodeService?): Behavior<Void> = Behaviors.setup { ctx ->
            if (service != null) {
                val data = ctx.spawn(service.dataBehavior(), "data")
                val node = ctx.spawn(service.behavior(data), "l3")
                ctx.system.receptionist().tell(Receptionist.register(L3_NODES, node))
            }
            Behaviors.empty()
        }
    }
}
