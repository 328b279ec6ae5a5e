package dev.strata.remote

import dev.strata.error.WorkerDiedException
import dev.strata.task.TaskArgs
import dev.strata.tensor.Tensor
import io.github.oshai.kotlinlogging.KotlinLogging
import java.util.concurrent.CompletableFuture
import java.util.concurrent.CompletionException
import java.util.concurrent.ExecutionException
import java.util.concurrent.ExecutorService
import java.util.concurrent.Executors

private val log = KotlinLogging.logger {}

/**
 * What a worker's remote nodes hold (issue 15, "tensors stay where they are"): results that a node kept
 * after its task instead of sending them back ([RemoteCall.keepResult]), by the caller's view they belong
 * to. While a node holds a view's bytes, the caller's bytes of that view are stale; every reader of them
 * goes through here first:
 *
 * - a task for **the node that holds them**, reading exactly that view, reads them there: no byte moves
 *   ([planRemote]; a task that writes the view gets a copy on the node, and its own result replaces it);
 *   a task for **another node** that can fetch them itself ([RemoteLink.canFetch]) gets them straight from
 *   the holder, without the bytes passing through the caller;
 * - **anything else** that touches the view's bytes — a task on another node, a sub worker, a local
 *   next-level child — waits until they were fetched into the caller's view ([planRemote], [prepareLocal]);
 *   a task that writes them makes the node's copy obsolete, and it is released;
 * - **the end of a run** fetches whatever is still held and releases it ([syncAll]): when a run's handle
 *   completes, the caller's tensors hold exactly what a run on one host would have left.
 *
 * The DAG makes this safe without locking tensors: a task that writes a view runs after every task that
 * read the view's previous bytes, and after the task that wrote them, so when a writer is planned the
 * node's copy has no reader left, and no two held results overlap (a group task's members never leave
 * results on their nodes). Fetches are shared: two readers of the same held view wait for one fetch.
 * An entry is dropped only once its bytes are in the caller's view, once a newer write replaced them, or
 * once the view's buffer is gone ([discard]). A node lost while it holds a result makes every reader of
 * it fail with [WorkerDiedException] naming the node and the task that produced the result.
 *
 * Thread-safe: scheduling steps (on whichever thread takes them) plan remote dispatches, endpoint threads prepare local ones and
 * commit remote results, and the thread that finishes a run syncs it.
 */
internal class Residency : AutoCloseable {
    /** One view whose bytes a node holds. Mutable fields under the residency's lock. */
    class Entry internal constructor(val view: Tensor, val held: RemoteHeld, val nodePath: String, val producer: String) {
        /** Fetching the bytes into the caller's view (started once; done: the caller's bytes are current). */
        var fetching: CompletableFuture<Unit>? = null

        /** Remote dispatches planned to read the bytes on the node; the node keeps them until none is left. */
        var pins = 0

        var dropped = false

        /** Set (under the entry's monitor) once the view's buffer is gone: no fetched byte lands after that. */
        var discarded = false

        override fun toString(): String = "${producer}'s result ($view) on $nodePath"
    }

    /**
     * How a remote task reads what nodes hold: [held] are the arguments it reads on its node as they are
     * there, [ready] completes once every other held byte it touches is in the caller's tensors.
     */
    class Plan internal constructor(
        val held: Map<Int, RemoteHeld>,
        internal val pinned: List<Entry>,
        internal val replaced: List<Entry>,
        val ready: CompletableFuture<Unit>,
    )

    private val lock = Any()

    /** Entries by the id of their buffer (few per buffer). */
    private val byBuffer = HashMap<Long, MutableList<Entry>>()

    @Volatile
    private var count = 0

    private val pool: ExecutorService = Executors.newCachedThreadPool { r -> Thread(r, "strata-residency-fetch").apply { isDaemon = true } }

    @Volatile
    private var closed = false

    /** True when no node holds anything: every check is then one volatile read. */
    val isEmpty: Boolean get() = count == 0

    /** How many views nodes hold now (tests). */
    val size: Int get() = count

    /** Bytes fetched from nodes into the caller's views so far (tests check that bytes moved only when read). */
    val fetchedBytes = java.util.concurrent.atomic.AtomicLong()

    /**
     * Plans a dispatch of [args] (task [consumer]) to the node behind [link]: which arguments it reads where
     * the node holds them, and what must be fetched first. Null when nodes hold nothing.
     */
    fun planRemote(args: TaskArgs, link: RemoteLink, consumer: String): Plan? {
        if (count == 0) return null
        synchronized(lock) {
            val held = HashMap<Int, RemoteHeld>()
            val pinned = ArrayList<Entry>()
            val replaced = ArrayList<Entry>()
            val waits = ArrayList<CompletableFuture<Unit>>()
            for (i in 0 until args.tensorCount) {
                val t = args.tensor(i)
                val over = overlapping(t)
                if (over.isEmpty()) continue
                val tag = args.arg(i).tag
                val writes = tag.writes || !tag.tracked
                val e = over.singleOrNull()
                if (e != null && sameView(e.view, t) && alone(args, i) && (link.holds(e.held) || link.canFetch(e.held))) {
                    e.pins++
                    pinned += e
                    held[i] = e.held
                    if (writes) replaced += e
                } else {
                    for (o in over) waits += fetchLocked(o, consumer, drop = writes)
                }
            }
            val ready = if (waits.isEmpty()) DONE else CompletableFuture.allOf(*waits.toTypedArray()).thenApply { }
            return Plan(held, pinned, replaced, ready)
        }
    }

    /**
     * A remote task planned with [plan] succeeded: what it read there is unpinned, what it wrote replaces
     * what the node held, and the results it kept ([RemoteCall.keptResults]) are held from now on.
     */
    fun commit(plan: Plan?, call: RemoteCall, nodePath: String) {
        val kept = call.keptResults()
        synchronized(lock) {
            plan?.pinned?.forEach { unpinLocked(it) }
            plan?.replaced?.forEach { dropLocked(it) }
            for ((arg, h) in kept.withIndex()) {
                if (h == null) continue
                val v = call.view(arg)
                val stale = overlapping(v)
                if (stale.isNotEmpty()) {
                    // Cannot happen through the DAG (a writer waits for the writes before it); keep the newest bytes.
                    log.error { "$nodePath kept ${call}'s argument $arg while nodes still hold $stale; dropping those" }
                    stale.forEach { dropLocked(it) }
                }
                if (closed) {
                    h.release()
                    continue
                }
                byBuffer.getOrPut(v.buffer.id) { ArrayList(2) } += Entry(v, h, nodePath, "task #${call.spec.taskId} '${call.spec.taskName}'")
                count++
            }
        }
    }

    /**
     * The error for a remote task ([consumer]) planned with [plan] that could not read [held] on the node that
     * held it ([reason]): a [WorkerDiedException] naming that node and the task that made the bytes.
     */
    fun unavailable(plan: Plan?, held: RemoteHeld, reason: String, consumer: String): Throwable {
        val e = plan?.pinned?.firstOrNull { it.held === held }
            ?: return WorkerDiedException.remote(held.address, reason, null)
        return WorkerDiedException.remote(e.nodePath, "$reason; it held the result of ${e.producer} (${e.view}), which $consumer needed, and those bytes are lost", null)
    }

    /** A remote task planned with [plan] did not succeed: what it read on the node is unpinned, nothing changes hands. */
    fun abort(plan: Plan?) {
        if (plan == null || plan.pinned.isEmpty()) return
        synchronized(lock) { plan.pinned.forEach { unpinLocked(it) } }
    }

    /**
     * Before a local task ([consumer]) touches [args]: starts fetching every held byte they overlap into the
     * caller's tensors; a written argument makes the node's copy obsolete. Returns what to wait for (failing
     * with [WorkerDiedException] when a node holding some of them was lost), or null when nothing is held there.
     */
    fun fetchFor(args: TaskArgs, consumer: String): CompletableFuture<Unit>? {
        if (count == 0) return null
        val waits = synchronized(lock) {
            val waits = ArrayList<CompletableFuture<Unit>>()
            for (i in 0 until args.tensorCount) {
                val t = args.tensor(i)
                val tag = args.arg(i).tag
                for (e in overlapping(t)) waits += fetchLocked(e, consumer, drop = tag.writes || !tag.tracked)
            }
            waits
        }
        return when (waits.size) {
            0 -> null
            1 -> waits[0]
            else -> CompletableFuture.allOf(*waits.toTypedArray()).thenApply { }
        }
    }

    /** [fetchFor], waiting on the calling thread (bounded by the transport's own timeouts). */
    fun prepareLocal(args: TaskArgs, consumer: String) {
        fetchFor(args, consumer)?.let { await(it) }
    }

    /**
     * Fetches everything nodes hold into the caller's tensors ([what] is for errors, e.g. `the end of run #3`),
     * then releases it; the future fails with the first [WorkerDiedException] when a node holding bytes was
     * lost (its other bytes are fetched all the same).
     */
    fun syncAll(what: String): CompletableFuture<Unit> {
        if (count == 0) return DONE
        val (all, waits) = synchronized(lock) {
            val all = byBuffer.values.flatten()
            all to all.map { fetchLocked(it, what, drop = false) }
        }
        return CompletableFuture.allOf(*waits.toTypedArray()).handle { _, e ->
            synchronized(lock) { all.forEach { dropLocked(it) } }
            if (e != null) throw unwrap(e)
        }
    }

    /** The buffer with id [bufferId] is gone (its scope's allocation was reclaimed): what nodes hold of it is dropped unread. */
    fun discard(bufferId: Long) {
        if (count == 0) return
        synchronized(lock) {
            val list = byBuffer[bufferId] ?: return
            for (e in list.toList()) {
                synchronized(e) { e.discarded = true }
                dropLocked(e)
            }
        }
    }

    /** Releases everything nodes hold (unread) and stops fetching; for a closing worker. Idempotent. */
    override fun close() {
        synchronized(lock) {
            closed = true
            for (e in byBuffer.values.flatten()) {
                synchronized(e) { e.discarded = true }
                dropLocked(e)
            }
        }
        pool.shutdownNow()
    }

    private fun overlapping(t: Tensor): List<Entry> {
        if (t.elementCount == 0L) return emptyList()
        val list = byBuffer[t.buffer.id] ?: return emptyList()
        return list.filter { it.view.overlaps(t) }
    }

    /** Fetches [e] into the caller's view once (shared by every reader); with [drop], releases it afterwards. */
    private fun fetchLocked(e: Entry, consumer: String, drop: Boolean): CompletableFuture<Unit> {
        val f = e.fetching ?: CompletableFuture.runAsync({
            e.held.fetch { off, bytes ->
                synchronized(e) { if (!e.discarded) Packing.scatter(e.view, off, bytes) }
                fetchedBytes.addAndGet(bytes.size.toLong())
            }
        }, pool).handle { _, err ->
            if (err != null) throw lost(e, unwrap(err), consumer)
        }.also { e.fetching = it }
        return if (!drop) f else f.thenApply { synchronized(lock) { dropLocked(e) } }
    }

    private fun lost(e: Entry, err: Throwable, consumer: String): Throwable {
        val reason = (err as? RemoteNodeLostException)?.reason ?: "could not send the bytes it holds (${err.javaClass.simpleName}: ${err.message})"
        return WorkerDiedException.remote(
            e.nodePath,
            "$reason; it held the result of ${e.producer} (${e.view}), which $consumer needed, and those bytes are lost",
            null,
        )
    }

    private fun unpinLocked(e: Entry) {
        e.pins--
        if (e.dropped && e.pins == 0) e.held.release()
    }

    private fun dropLocked(e: Entry) {
        if (e.dropped) return
        e.dropped = true
        val list = byBuffer[e.view.buffer.id]
        if (list != null && list.remove(e)) {
            count--
            if (list.isEmpty()) byBuffer.remove(e.view.buffer.id)
        }
        if (e.pins == 0) e.held.release()
    }

    private fun await(f: CompletableFuture<Unit>) {
        try {
            f.get()
        } catch (e: ExecutionException) {
            throw unwrap(e)
        }
    }

    internal companion object {
        private val DONE: CompletableFuture<Unit> = CompletableFuture.completedFuture(Unit)

        fun unwrap(e: Throwable): Throwable {
            var c = e
            while ((c is CompletionException || c is ExecutionException) && c.cause != null) c = c.cause!!
            return c
        }

        fun sameView(a: Tensor, b: Tensor): Boolean =
            a.buffer.id == b.buffer.id && a.byteOffset == b.byteOffset && a.dtype == b.dtype &&
                a.shape.contentEquals(b.shape) && a.strides.contentEquals(b.strides)

        /** Whether argument [i] shares no byte with another argument of its task (it travels alone). */
        private fun alone(args: TaskArgs, i: Int): Boolean {
            val t = args.tensor(i)
            for (j in 0 until args.tensorCount) if (j != i && args.tensor(j).overlaps(t)) return false
            return true
        }
    }
}
