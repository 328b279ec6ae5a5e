package dev.strata.cluster

import dev.strata.remote.RemoteTaskFailure
import dev.strata.remote.RemoteTasks
import dev.strata.worker.NextLevelChild
import dev.strata.worker.Worker
import io.github.oshai.kotlinlogging.KotlinLogging
import org.apache.pekko.actor.typed.ActorRef
import org.apache.pekko.actor.typed.Behavior
import org.apache.pekko.actor.typed.Scheduler
import org.apache.pekko.actor.typed.javadsl.Behaviors
import org.apache.pekko.cluster.ClusterEvent
import org.apache.pekko.cluster.typed.Cluster
import org.apache.pekko.cluster.typed.Subscribe
import java.util.concurrent.ConcurrentHashMap
import java.util.concurrent.ExecutorService
import java.util.concurrent.Executors
import java.util.concurrent.Future
import kotlin.time.Duration.Companion.seconds

private val log = KotlinLogging.logger {}

/**
 * A level-3 node's service (issue 15): the `l3` actor answers [Describe] and [Admit] and runs each
 * [RunTask] on a thread of its own (never on an actor thread): it pulls the transfer units that did not
 * travel inline from the caller, runs the task on the node's worker through [RemoteTasks.run], and
 * replies with the written arguments — inline when they fit, else kept for the caller to pull from the
 * node's `data` actor or data plane until it sends [Release]. A kept result may stay for long (issue 15:
 * tensors stay where they are; a later task here reads it in place, [HeldUnit]), so it is dropped only on
 * [Release] or when its caller is removed from the cluster (it died or left).
 */
internal class NodeService(private val worker: Worker, settings: NodeSettings) : AutoCloseable {
    @Volatile
    private lateinit var scheduler: Scheduler

    private val pool: ExecutorService = Executors.newCachedThreadPool { r ->
        Thread(r, "strata-node-task").apply { isDaemon = true }
    }
    private val running = ConcurrentHashMap<Long, Future<*>>()

    /** Results kept for callers to pull, by request. */
    private val retained = ConcurrentHashMap<Long, Retained>()

    /** Results of one request, and the cluster address of the caller that may still pull them. */
    private class Retained(val results: List<ByteArray?>, val owner: org.apache.pekko.actor.Address)

    /** Serves retained results and fetches callers' transfer units (null: everything through Artery). */
    private val dataPlane: DataPlane? = if (!settings.dataPlane) null else DataPlane(settings.hostname, settings.tls) { id, item, off, len ->
        retained[id]?.results?.getOrNull(item)?.takeIf { off >= 0 && off + len <= it.size }?.copyOfRange(off.toInt(), off.toInt() + len)
    }
    private val dataHost = settings.hostname

    fun behavior(data: ActorRef<DataCommand>): Behavior<NodeCommand> = Behaviors.setup { ctx ->
        scheduler = ctx.system.scheduler()
        val self = Cluster.get(ctx.system).selfMember().address().toString()
        val drivers = worker.config.nextLevel.mapNotNull { (it as? NextLevelChild.Chip)?.config?.driver }
        // Results whose caller left the cluster (it died, or closed) have nobody to pull or release them.
        val owners = ctx.spawn(
            Behaviors.receive(ClusterEvent.MemberRemoved::class.java).onMessage(ClusterEvent.MemberRemoved::class.java) { e ->
                val gone = e.member().address()
                retained.entries.removeIf { it.value.owner == gone }
                Behaviors.same()
            }.build(),
            "strata-result-owners",
        )
        Cluster.get(ctx.system).subscriptions().tell(Subscribe.create(owners, ClusterEvent.MemberRemoved::class.java))
        Behaviors.receive(NodeCommand::class.java)
            .onMessage(Describe::class.java) { m ->
                m.replyTo.tell(NodeInfo(self, worker.level, worker.subWorkerCount, drivers))
                Behaviors.same()
            }
            .onMessage(Admit::class.java) { m ->
                m.replyTo.tell(Admitted(RemoteTasks.admissionProblem(m.callable)))
                Behaviors.same()
            }
            .onMessage(RunTask::class.java) { m ->
                running[m.requestId] = pool.submit { serve(m, data) }
                Behaviors.same()
            }
            .onMessage(CancelTask::class.java) { m ->
                running[m.requestId]?.cancel(true)
                Behaviors.same()
            }
            .build()
    }

    /** Serves the node's retained results. */
    fun dataBehavior(): Behavior<DataCommand> = Behaviors.receive(DataCommand::class.java)
        .onMessage(Pull::class.java) { m ->
            val bytes = retained[m.requestId]?.results?.getOrNull(m.item)
            if (bytes == null || m.offset < 0 || m.offset + m.length > bytes.size) {
                m.replyTo.tell(Chunk(m.requestId, m.item, m.offset, "request ${m.requestId} has no result ${m.item} with bytes [${m.offset}, ${m.offset + m.length}) here"))
            } else {
                m.replyTo.tell(Chunk(m.requestId, m.item, m.offset, payload = bytes.copyOfRange(m.offset.toInt(), m.offset.toInt() + m.length)))
            }
            Behaviors.same()
        }
        .onMessage(Release::class.java) { m ->
            retained.remove(m.requestId)
            Behaviors.same()
        }
        .build()

    private fun serve(m: RunTask, data: ActorRef<DataCommand>) {
        val spec = m.spec
        try {
            val units = ArrayList<ByteArray>(spec.unitSizes.size)
            val held = m.held.associateBy { it.unit }
            var at = 0
            for ((i, size) in spec.unitSizes.withIndex()) {
                val h = held[i]
                if (h != null && h.from.isEmpty()) { // a result kept here: read in place; a task that may write it gets its own copy
                    val kept = retained[h.requestId]?.results?.getOrNull(h.item)
                        ?: throw IllegalStateException("this node no longer holds result ${h.item} of request ${h.requestId} (it was released or the node restarted)")
                    check(kept.size.toLong() == size) { "result ${h.item} of request ${h.requestId} has ${kept.size} bytes, $size expected" }
                    units += if (spec.args.any { it.unit == i && it.returns }) kept.copyOf() else kept
                    continue
                }
                if (h != null) { // a result another node keeps: read straight from it
                    val bytes = ByteArray(Math.toIntExact(size))
                    val sink = { off: Long, b: ByteArray -> System.arraycopy(b, 0, bytes, off.toInt(), b.size) }
                    try {
                        if (h.dataPort > 0 && dataPlane != null) {
                            dataPlane.fetchInto(h.dataHost, h.dataPort, h.requestId, h.item, bytes, PULL_TIMEOUT)
                        } else {
                            Transfers.pull(scheduler, h.source ?: error("no data actor given for ${h.from}"), h.requestId, h.item, size, PULL_TIMEOUT, sink)
                        }
                    } catch (e: Exception) {
                        throw HeldUnavailable(i, "${h.from}: ${e.message ?: e.javaClass.simpleName}")
                    }
                    units += bytes
                    continue
                }
                val bytes = ByteArray(Math.toIntExact(size))
                if (i in m.inline) {
                    System.arraycopy(m.payload, at, bytes, 0, bytes.size)
                    at += bytes.size
                } else {
                    val sink = { off: Long, b: ByteArray -> System.arraycopy(b, 0, bytes, off.toInt(), b.size) }
                    if (m.dataPort > 0 && dataPlane != null) {
                        dataPlane.fetchInto(m.dataHost, m.dataPort, m.requestId, i, bytes, PULL_TIMEOUT)
                    } else {
                        Transfers.pull(scheduler, m.source, m.requestId, i, size, PULL_TIMEOUT, sink)
                    }
                }
                units += bytes
            }
            val results = RemoteTasks.run(spec, units, m.path, worker)
            val sizes = results.map { it?.size?.toLong() ?: -1L }
            val written = results.indices.filter { results[it] != null }
            val inline = Transfers.inline(sizes, written)
            val rest = written - inline.toSet()
            if (rest.isNotEmpty()) retained[m.requestId] = Retained(results, m.replyTo.path().address())
            val payload = java.io.ByteArrayOutputStream(inline.sumOf { results[it]!!.size })
            inline.forEach { payload.write(results[it]!!) }
            m.replyTo.tell(TaskDone(m.requestId, inline, rest, data, dataHost, dataPlane?.port ?: 0, payload.toByteArray()))
        } catch (f: HeldUnavailable) {
            m.replyTo.tell(TaskFailed(m.requestId, null, spec.taskId, spec.taskName, "HeldUnavailable", f.message, "", heldUnit = f.unit))
        } catch (f: RemoteTaskFailure) {
            m.replyTo.tell(TaskFailed(m.requestId, f.nestedPath, f.taskId, f.taskName, f.errorClass, f.errorMessage, f.errorStack))
        } catch (t: Throwable) {
            log.debug(t) { "request ${m.requestId} (${spec.taskName}) failed on the node" }
            m.replyTo.tell(
                TaskFailed(m.requestId, null, spec.taskId, spec.taskName, t.javaClass.name, t.message, t.stackTraceToString()),
            )
        } finally {
            running.remove(m.requestId)
        }
    }

    /** Results held now, by request (tests). */
    internal val retainedCount: Int get() = retained.size

    override fun close() {
        dataPlane?.close()
        pool.shutdownNow()
        retained.clear()
    }

    /** The bytes of held unit [unit] could not be read from the node that held them. */
    private class HeldUnavailable(val unit: Int, message: String) : Exception(message, null, false, false)

    companion object {
        /** How long a chunk of a caller's tensor may take to arrive. */
        val PULL_TIMEOUT = 30.seconds
    }
}
