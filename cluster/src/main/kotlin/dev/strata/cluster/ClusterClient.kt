package dev.strata.cluster

import dev.strata.remote.RemoteCall
import dev.strata.remote.RemoteHeld
import dev.strata.remote.RemoteHeldUnavailable
import dev.strata.remote.RemoteLink
import dev.strata.remote.RemoteNodeLostException
import dev.strata.remote.RemoteTaskFailure
import dev.strata.worker.NextLevelChild
import io.github.oshai.kotlinlogging.KotlinLogging
import org.apache.pekko.actor.typed.ActorRef
import org.apache.pekko.actor.typed.Behavior
import org.apache.pekko.actor.typed.Props
import org.apache.pekko.actor.typed.javadsl.AskPattern
import org.apache.pekko.actor.typed.javadsl.Behaviors
import org.apache.pekko.actor.typed.receptionist.Receptionist
import org.apache.pekko.cluster.ClusterEvent
import org.apache.pekko.cluster.typed.Cluster
import org.apache.pekko.cluster.typed.Subscribe
import java.security.SecureRandom
import java.util.concurrent.CancellationException
import java.util.concurrent.CompletableFuture
import java.util.concurrent.ConcurrentHashMap
import java.util.concurrent.ExecutorService
import java.util.concurrent.Executors
import java.util.concurrent.TimeUnit
import kotlin.time.Duration
import kotlin.time.Duration.Companion.hours
import kotlin.time.Duration.Companion.seconds
import kotlin.time.toJavaDuration

private val log = KotlinLogging.logger {}

/**
 * A level-4 program's membership in a Strata cluster (issue 15): a member with role `l4` that finds the
 * cluster's level-3 nodes and hands out links to them ([remoteNode], [remoteNodes]) for a level-4
 * worker's next-level children.
 *
 * **Failures in seconds.** The client watches reachability: when a node becomes unreachable (the
 * failure detector's verdict, ~3 s after a crash or a freeze), leaves or is downed, every task it runs
 * fails at once with [RemoteNodeLostException] — the level-4 worker reports a
 * [dev.strata.error.WorkerDiedException] naming the node, its address and the task — and later tasks to
 * it fail fast. When a node at that address is listed again (restarted and rejoined, or reachable again),
 * its link serves the next task.
 *
 * [close] closes every link and leaves the cluster. A client made by [shared] closes itself when its
 * last link closes (the worker that owned the links closed).
 */
public class ClusterClient private constructor(private val member: ClusterNode, private val shared: Boolean) : AutoCloseable {
    private val system = member.system
    private val random = SecureRandom()

    /** Calls whose transfer units nodes may pull, by request id. */
    private val calls = ConcurrentHashMap<Long, RemoteCall>()

    /** Links handed out and not closed. */
    private val links = ConcurrentHashMap.newKeySet<NodeLink>()

    /** Nodes listed by the receptionist (reachable ones), by `host:port`. */
    @Volatile
    private var listed: Map<String, ActorRef<NodeCommand>> = emptyMap()

    /** Threads that pull results and wait for admissions (never an actor thread). */
    private val pool: ExecutorService = Executors.newCachedThreadPool { r -> Thread(r, "strata-l4-transfer").apply { isDaemon = true } }

    private val data: ActorRef<DataCommand> = system.systemActorOf(dataBehavior(), "strata-l4-data", Props.empty())

    /** Serves the transfer units of calls in flight to the nodes that fetch them (null: through Artery). */
    private val dataPlane: DataPlane? = if (!member.settings.dataPlane) null else DataPlane(member.settings.hostname, member.settings.tls) { id, item, off, len ->
        calls[id]?.readUnit(item, off, len)
    }

    @Volatile
    private var closed = false

    init {
        val events = system.systemActorOf(eventsBehavior(), "strata-l4-events", Props.empty())
        Cluster.get(system).subscriptions().tell(Subscribe.create(events, ClusterEvent.ClusterDomainEvent::class.java))
        val listings = system.systemActorOf(listingBehavior(), "strata-l4-listing", Props.empty())
        system.receptionist().tell(Receptionist.subscribe(L3_NODES, listings))
    }

    /** This member's `host:port`. */
    public val hostPort: String get() = member.hostPort

    /** `host:port` of every level-3 node the cluster lists now (reachable ones), sorted. */
    public fun listedNodes(): List<String> = listed.keys.sorted()

    /**
     * The node at [hostPort] as a next-level child of a level-4 worker: waits (at most [timeout]) until the
     * cluster lists it, then asks its level. Throws [IllegalStateException] naming the address and the
     * nodes that are listed when it is not there in time.
     */
    public fun remoteNode(hostPort: String, timeout: Duration = 20.seconds): NextLevelChild.Remote = try {
        link(hostPort, timeout)
    } catch (t: Throwable) {
        // A shared client that gave out no link yet has no owner to close it: it must not keep the JVM alive.
        if (shared && links.isEmpty()) close()
        throw t
    }

    private fun link(hostPort: String, timeout: Duration): NextLevelChild.Remote {
        check(!closed) { "this cluster client is closed" }
        val key = normalize(hostPort)
        val deadline = System.nanoTime() + timeout.inWholeNanoseconds
        var ref = listed[key]
        while (ref == null) {
            check(System.nanoTime() < deadline) {
                "no level-3 node at $key joined the cluster within $timeout (listed: ${listedNodes().ifEmpty { listOf("none") }}); " +
                    "start it with `strata node --join ${member.hostPort}` or check the address"
            }
            Thread.sleep(10)
            ref = listed[key]
        }
        val info = AskPattern.ask(ref, { r: ActorRef<NodeInfo> -> Describe(r) }, timeout.toJavaDuration(), system.scheduler())
            .toCompletableFuture().get(timeout.inWholeMilliseconds, TimeUnit.MILLISECONDS)
        val link = NodeLink(key, info.level, ref)
        links += link
        return NextLevelChild.Remote(link)
    }

    /**
     * Asks the node at [hostPort] (listed now) to describe itself: one request/response over the cluster,
     * nothing else (the floor under a remote task's round trip). Throws when it is not listed or does not
     * answer within [timeout].
     */
    public fun describe(hostPort: String, timeout: Duration = 5.seconds): NodeInfo {
        val ref = listed[normalize(hostPort)] ?: throw IllegalStateException("no level-3 node at $hostPort is listed (listed: ${listedNodes()})")
        return AskPattern.ask(ref, { r: ActorRef<NodeInfo> -> Describe(r) }, timeout.toJavaDuration(), system.scheduler())
            .toCompletableFuture().get(timeout.inWholeMilliseconds, TimeUnit.MILLISECONDS)
    }

    /**
     * The first [count] level-3 nodes the cluster lists (sorted by address), waiting at most [timeout] for
     * that many: discovery by role instead of addresses.
     */
    public fun remoteNodes(count: Int, timeout: Duration = 20.seconds): List<NextLevelChild.Remote> {
        require(count > 0) { "count must be > 0, was $count" }
        val made = ArrayList<NextLevelChild.Remote>()
        try {
            val deadline = System.nanoTime() + timeout.inWholeNanoseconds
            while (listed.size < count) {
                check(System.nanoTime() < deadline) {
                    "only ${listed.size} level-3 node(s) joined the cluster within $timeout, $count wanted (listed: ${listedNodes()})"
                }
                Thread.sleep(10)
            }
            for (hostPort in listedNodes().take(count)) made += remoteNode(hostPort, timeout)
            return made
        } catch (t: Throwable) {
            made.forEach { it.link.close() } // none of them reaches a worker
            if (shared && links.isEmpty()) close()
            throw t
        }
    }

    override fun close() {
        if (closed) return
        closed = true
        links.toList().forEach { it.lost("was closed with its cluster client", closing = true) }
        links.clear()
        pool.shutdownNow()
        dataPlane?.close()
        member.close()
        if (shared) synchronized(Companion) { if (default === this) default = null }
    }

    override fun toString(): String = "ClusterClient(${member.hostPort})"

    // --- actors -----------------------------------------------------------------------------------

    private fun dataBehavior(): Behavior<DataCommand> = Behaviors.receive(DataCommand::class.java)
        .onMessage(Pull::class.java) { m ->
            val call = calls[m.requestId]
            val reply = if (call == null) {
                Chunk(m.requestId, m.item, m.offset, "request ${m.requestId} is over (its task was cancelled or failed)")
            } else {
                runCatching { Chunk(m.requestId, m.item, m.offset, payload = call.readUnit(m.item, m.offset, m.length)) }
                    .getOrElse { Chunk(m.requestId, m.item, m.offset, "${it.javaClass.simpleName}: ${it.message}") }
            }
            m.replyTo.tell(reply)
            Behaviors.same()
        }
        .onMessage(Release::class.java) { Behaviors.same() }
        .build()

    private fun eventsBehavior(): Behavior<ClusterEvent.ClusterDomainEvent> = Behaviors.receive(ClusterEvent.ClusterDomainEvent::class.java)
        .onMessage(ClusterEvent.UnreachableMember::class.java) { e ->
            lose(e.member().address(), "became unreachable (no heartbeat within 2 s: it died, froze or its network failed)")
            Behaviors.same()
        }
        .onMessage(ClusterEvent.MemberDowned::class.java) { e ->
            lose(e.member().address(), "was downed by the cluster")
            Behaviors.same()
        }
        .onMessage(ClusterEvent.MemberRemoved::class.java) { e ->
            lose(e.member().address(), "left the cluster")
            Behaviors.same()
        }
        .onMessage(ClusterEvent.MemberLeft::class.java) { e ->
            lose(e.member().address(), "is leaving the cluster")
            Behaviors.same()
        }
        .onMessage(ClusterEvent.ReachableMember::class.java) { e ->
            val key = hostPortOf(e.member().address())
            listed[key]?.let { ref -> links.filter { it.address == key }.forEach { it.revive(ref) } }
            Behaviors.same()
        }
        .onAnyMessage { Behaviors.same() }
        .build()

    private fun listingBehavior(): Behavior<Receptionist.Listing> = Behaviors.receive(Receptionist.Listing::class.java)
        .onMessage(Receptionist.Listing::class.java) { l ->
            val now = l.getServiceInstances(L3_NODES).associateBy { hostPortOf(it.path().address()) }
            listed = now
            for (link in links) now[link.address]?.let { link.revive(it) }
            Behaviors.same()
        }
        .build()

    private fun lose(address: org.apache.pekko.actor.Address, reason: String) {
        val key = hostPortOf(address)
        links.filter { it.address == key }.forEach { it.lost(reason) }
    }

    // --- a link -----------------------------------------------------------------------------------

    /** One call in flight; its monitor orders result writes against failing it. */
    private class Pending(val call: RemoteCall, val done: CompletableFuture<Unit>) {
        /** Writes a result chunk unless the call already failed; false when it did. */
        fun write(arg: Int, offset: Long, bytes: ByteArray): Boolean = synchronized(this) {
            if (done.isDone) return false
            call.writeResult(arg, offset, bytes)
            true
        }

        fun fail(e: Throwable) {
            synchronized(this) { done.completeExceptionally(e) }
        }
    }

    /** Results of one request that stay on their node: released there once every one of them is released. */
    private class HeldRequest(val reply: TaskDone, count: Int) {
        private val left = java.util.concurrent.atomic.AtomicInteger(count)

        fun releaseOne() {
            if (left.decrementAndGet() == 0) reply.source.tell(Release(reply.requestId))
        }
    }

    /** A result node [node] kept (item [item] of its request), read through [link]. */
    private class ClusterHeld(
        val link: NodeLink,
        val node: ActorRef<NodeCommand>,
        val group: HeldRequest,
        val item: Int,
        override val size: Long,
    ) : RemoteHeld {
        override val address: String get() = link.address
        val requestId: Long get() = group.reply.requestId

        @Volatile
        var released = false

        override fun fetch(sink: (offset: Long, bytes: ByteArray) -> Unit) {
            check(!released) { "result $item of request $requestId on $address was released" }
            link.fetch(this, sink)
        }

        override fun release() {
            synchronized(this) {
                if (released) return
                released = true
            }
            group.releaseOne()
        }

        override fun toString(): String = "result $item of request $requestId on $address"
    }

    /** One level-3 node as a [RemoteLink]. */
    private inner class NodeLink(override val address: String, override val level: Int, @Volatile private var node: ActorRef<NodeCommand>) : RemoteLink {
        /** Why the node is lost, or null while it serves. */
        @Volatile
        var lostReason: String? = null
            private set

        /** The client this link belongs to (a held result is read only through its own client's links). */
        val client: ClusterClient get() = this@ClusterClient

        @Volatile
        private var linkClosed = false

        /**
         * Calls in flight, by request id. A result is written back under the call's monitor, and a lost node
         * fails the call under it too: once the future failed, not one more byte lands in the caller's
         * tensors (the scheduler may already run what comes next).
         */
        private val pending = ConcurrentHashMap<Long, Pending>()

        override fun admit(callable: String) {
            lostReason?.let { throw RemoteNodeLostException(address, it) }
            val answer = AskPattern.ask(node, { r: ActorRef<Admitted> -> Admit(callable, r) }, ADMIT_TIMEOUT.toJavaDuration(), system.scheduler())
                .toCompletableFuture()
            val problem = try {
                answer.get(ADMIT_TIMEOUT.inWholeMilliseconds + 1_000, TimeUnit.MILLISECONDS).problem
            } catch (e: Exception) {
                throw IllegalStateException("it did not answer whether it can run '$callable' within $ADMIT_TIMEOUT (${e.cause?.message ?: e})")
            }
            if (problem != null) throw IllegalStateException(problem)
        }

        override fun execute(call: RemoteCall): CompletableFuture<Unit> {
            if (linkClosed) throw RemoteNodeLostException(address, "was closed")
            lostReason?.let { throw RemoteNodeLostException(address, it) }
            val id = random.nextLong()
            val done = CompletableFuture<Unit>()
            val spec = call.spec
            val held = spec.unitSizes.indices.mapNotNull { u ->
                val h = call.heldInput(u) ?: return@mapNotNull null
                check(h is ClusterHeld && h.link.client === client) { "transfer unit $u of $call is held by ${h.address}, which this client does not know" }
                if (h.link === this) {
                    HeldUnit(u, h.requestId, h.item)
                } else { // another node holds it: this node reads it there
                    val r = h.group.reply
                    HeldUnit(u, h.requestId, h.item, h.address, r.dataHost, r.dataPort, r.source)
                }
            }
            val inline = Transfers.inline(spec.unitSizes, spec.unitSizes.indices.filter { u -> held.none { it.unit == u } })
            val payload = java.io.ByteArrayOutputStream(inline.sumOf { spec.unitSizes[it] }.toInt())
            for (u in inline) payload.write(call.readUnit(u, 0, spec.unitSizes[u].toInt()))
            calls[id] = call
            val p = Pending(call, done)
            pending[id] = p
            done.whenComplete { _, _ ->
                calls.remove(id)
                pending.remove(id)
            }
            val target = node
            AskPattern.ask(
                target,
                { r: ActorRef<TaskReply> ->
                    RunTask(id, call.path, spec, inline, data, r, member.settings.hostname, dataPlane?.port ?: 0, held, payload.toByteArray())
                },
                TASK_TIMEOUT.toJavaDuration(), system.scheduler(),
            ).whenComplete { reply, error ->
                when {
                    error != null -> done.completeExceptionally(
                        RemoteNodeLostException(address, "did not answer task #${spec.taskId} within $TASK_TIMEOUT (${error.message})"),
                    )
                    reply is TaskFailed && reply.heldUnit >= 0 -> {
                        val h = call.heldInput(reply.heldUnit) as ClusterHeld
                        done.completeExceptionally(RemoteHeldUnavailable(h, h.link.lostReason ?: "could not send it to $address (${reply.errorMessage})"))
                    }
                    reply is TaskFailed -> done.completeExceptionally(
                        RemoteTaskFailure(reply.nestedPath, reply.taskId, reply.taskName, reply.errorClass, reply.errorMessage, reply.errorStack),
                    )
                    reply is TaskDone -> if (reply.retained.all { spec.args[it].mayStay }) {
                        finish(p, reply, target) // nothing to pull now
                    } else {
                        runCatching { pool.execute { finish(p, reply, target) } }.onFailure { p.fail(RemoteNodeLostException(address, "was closed")) }
                    }
                }
            }
            return done
        }

        /**
         * Writes the task's results back (pulling the big ones, except those that may stay on the node: they
         * are kept there, as [ClusterHeld]), then completes the call.
         */
        private fun finish(p: Pending, reply: TaskDone, target: ActorRef<NodeCommand>) {
            val call = p.call
            try {
                var at = 0
                for (arg in reply.inline) {
                    val size = call.spec.args[arg].packedBytes.toInt()
                    if (!p.write(arg, 0, reply.payload.copyOfRange(at, at + size))) return
                    at += size
                }
                val staying = reply.retained.filter { call.spec.args[it].mayStay }
                for (arg in reply.retained - staying.toSet()) {
                    val sink = { off: Long, b: ByteArray -> if (!p.write(arg, off, b)) throw CancellationException("the call already failed") }
                    val size = call.spec.args[arg].packedBytes
                    if (reply.dataPort > 0 && dataPlane != null) {
                        dataPlane.fetch(reply.dataHost, reply.dataPort, reply.requestId, arg, size, NodeService.PULL_TIMEOUT, sink)
                    } else {
                        Transfers.pull(system.scheduler(), reply.source, reply.requestId, arg, size, NodeService.PULL_TIMEOUT, sink)
                    }
                }
                if (staying.isEmpty()) {
                    if (reply.retained.isNotEmpty()) reply.source.tell(Release(reply.requestId))
                    synchronized(p) { p.done.complete(Unit) }
                    return
                }
                val group = HeldRequest(reply, staying.size)
                synchronized(p) {
                    if (p.done.isDone) { // lost meanwhile: nobody will read them
                        reply.source.tell(Release(reply.requestId))
                        return
                    }
                    for (arg in staying) call.keepResult(arg, ClusterHeld(this, target, group, arg, call.spec.args[arg].packedBytes))
                    p.done.complete(Unit)
                }
            } catch (_: CancellationException) {
                // lost meanwhile: the call failed with that
            } catch (e: DataPlane.Refused) {
                p.fail(e)
            } catch (e: java.io.IOException) {
                // The node stopped sending the results it holds (it died, or its network did): the node is lost to this
                // task, whatever the failure detector says a few seconds later.
                p.fail(RemoteNodeLostException(address, "stopped sending the results of task #${call.spec.taskId} (${e.message})"))
            } catch (t: Throwable) {
                p.fail(t)
            }
        }

        /** Reads result [held] where the node keeps it (see [ClusterHeld.fetch]). */
        fun fetch(held: ClusterHeld, sink: (Long, ByteArray) -> Unit) {
            lostReason?.let { throw RemoteNodeLostException(address, it) }
            val r = held.group.reply
            try {
                if (r.dataPort > 0 && dataPlane != null) {
                    dataPlane.fetch(r.dataHost, r.dataPort, r.requestId, held.item, held.size, NodeService.PULL_TIMEOUT, sink)
                } else {
                    Transfers.pull(system.scheduler(), r.source, r.requestId, held.item, held.size, NodeService.PULL_TIMEOUT, sink)
                }
            } catch (e: DataPlane.Refused) {
                throw RemoteNodeLostException(address, "no longer holds a result it kept (${e.message}): it restarted, or dropped it")
            } catch (e: java.io.IOException) {
                lostReason?.let { throw RemoteNodeLostException(address, it) }
                throw RemoteNodeLostException(address, "stopped sending a result it held (${e.message})")
            }
        }

        override fun holds(held: RemoteHeld): Boolean =
            held is ClusterHeld && held.link === this && held.node == node && lostReason == null && !linkClosed && !held.released

        /** Whether this node can read [held] straight from the node that keeps it (over that node's data plane, or its data actor). */
        override fun canFetch(held: RemoteHeld): Boolean =
            held is ClusterHeld && held.link !== this && held.link.client === client && !held.released &&
                held.link.lostReason == null && lostReason == null && !linkClosed

        override fun cancel(call: RemoteCall) {
            pending.entries.firstOrNull { it.value.call === call }?.let { node.tell(CancelTask(it.key)) }
        }

        /** The node is gone ([reason]): what it runs fails now, and so does what is sent to it, until [revive]. */
        fun lost(reason: String, closing: Boolean = false) {
            if (closing) linkClosed = true
            if (lostReason == null || closing) lostReason = reason
            val failed = pending.values.toList()
            if (failed.isNotEmpty()) log.debug { "node $address $reason: failing ${failed.size} task(s)" }
            failed.forEach { it.fail(RemoteNodeLostException(address, reason)) }
        }

        /** A node at this address is listed (again): the next task goes to [ref]. */
        fun revive(ref: ActorRef<NodeCommand>) {
            if (linkClosed || lostReason == null) return
            node = ref
            lostReason = null
        }

        override fun close() {
            if (linkClosed) return
            lost("was closed", closing = true)
            links.remove(this)
            if (shared && links.isEmpty()) this@ClusterClient.close()
        }

        override fun toString(): String = "node $address"
    }

    public companion object {
        init {
            // Nothing of ours on stdout: kotlin-logging's start-up line stays off unless the application chose.
            if (System.getProperty("kotlin-logging.logStartupMessage") == null) System.setProperty("kotlin-logging.logStartupMessage", "false")
        }

        /** How long a node may take to say whether it can run a callable. */
        private val ADMIT_TIMEOUT = 10.seconds

        /** A backstop only: a lost node fails its task through reachability within seconds. */
        private val TASK_TIMEOUT = 24.hours

        private var default: ClusterClient? = null

        /** The shared client if one is open (tests check that none is left). */
        internal fun sharedOrNull(): ClusterClient? = synchronized(this) { default?.takeIf { !it.closed } }

        /**
         * Joins the cluster that [seed] (`host:port` of any member) belongs to as a level-4 member with
         * [settings] (its roles and seeds are set here), waiting until it is Up.
         */
        public fun start(seed: String, settings: NodeSettings = NodeSettings()): ClusterClient = open(seed, settings, shared = false)

        private fun open(seed: String, settings: NodeSettings, shared: Boolean): ClusterClient {
            val member = ClusterNode.start(settings.copy(seeds = listOf(seed), roles = setOf(NodeSettings.ROLE_L4)), null)
            return try {
                ClusterClient(member, shared)
            } catch (t: Throwable) {
                member.close()
                throw t
            }
        }

        /**
         * The process's shared client, started (joined through [seed]) on first use; it closes itself when
         * the last link it gave out closes. What `remoteNode("host:port")` in the DSL uses.
         */
        public fun shared(seed: String, settings: NodeSettings = NodeSettings()): ClusterClient = synchronized(this) {
            default?.takeIf { !it.closed } ?: open(seed, settings, shared = true).also { default = it }
        }

        internal fun hostPortOf(a: org.apache.pekko.actor.Address): String = "${a.host.orElse("?")}:${a.port.orElse(0)}"

        /** `host:port` from `host:port` or `pekko://strata@host:port`. */
        internal fun normalize(hostPort: String): String = NodeSettings.seedAddress(hostPort).substringAfter('@')
    }
}
