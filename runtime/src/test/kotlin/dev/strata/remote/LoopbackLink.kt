package dev.strata.remote

import dev.strata.task.Runner
import java.util.concurrent.CompletableFuture
import java.util.concurrent.ConcurrentHashMap
import java.util.concurrent.Executors
import java.util.concurrent.Future

/**
 * A [RemoteLink] to a "node" in this JVM, for tests of the remote endpoint without a cluster: each call
 * runs on its own thread, which pulls the transfer units in [chunk]-byte reads (as a transport would),
 * runs the task with [RemoteTasks.run] on [worker], and writes the results back in chunks — or, with
 * [keep], keeps every result that may stay ([RemoteArg.mayStay]) and reads inputs it holds in place. [lose]
 * plays a node that vanished; [admitOverride] a node that cannot load classes.
 */
class LoopbackLink @JvmOverloads constructor(
    override val level: Int,
    private val worker: Runner? = null,
    override val address: String = "loopback:${next.incrementAndGet()}",
    private val chunk: Int = 4096,
    private val keep: Boolean = true,
) : RemoteLink {
    /** Results this node holds (kept and not released). */
    val held: MutableSet<Held> = ConcurrentHashMap.newKeySet()

    /** Bytes read from callers' tensors, written back to them, and fetched from what this node held. */
    val bytesIn = java.util.concurrent.atomic.AtomicLong()
    val bytesBack = java.util.concurrent.atomic.AtomicLong()
    val bytesFetched = java.util.concurrent.atomic.AtomicLong()

    /** Results kept, and fetches of them (whole or in part). */
    val keptCount = java.util.concurrent.atomic.AtomicInteger()
    val fetchCount = java.util.concurrent.atomic.AtomicInteger()

    /** Inputs read where this node held them, and inputs read straight from another node that held them. */
    val heldReads = java.util.concurrent.atomic.AtomicInteger()
    val directReads = java.util.concurrent.atomic.AtomicInteger()

    /** One kept result. */
    inner class Held(val bytes: ByteArray) : RemoteHeld {
        val holder: LoopbackLink get() = this@LoopbackLink

        override val address: String get() = this@LoopbackLink.address
        override val size: Long get() = bytes.size.toLong()

        override fun fetch(sink: (offset: Long, bytes: ByteArray) -> Unit) {
            fetchCount.incrementAndGet()
            var off = 0
            while (off < bytes.size) {
                lost?.let { throw RemoteNodeLostException(address, it) }
                check(this in held) { "$address no longer holds these bytes" }
                val n = minOf(chunk, bytes.size - off)
                sink(off.toLong(), bytes.copyOfRange(off, off + n))
                bytesFetched.addAndGet(n.toLong())
                off += n
            }
        }

        override fun release() {
            held -= this
        }
    }

    override val keepsResults: Boolean get() = keep

    override fun holds(held: RemoteHeld): Boolean = held is Held && held.holder === this && held in this.held && lost == null

    /** Nodes behind loopback links read each other's results directly ([direct] = false: through the caller). */
    @Volatile
    var direct: Boolean = true

    override fun canFetch(held: RemoteHeld): Boolean = direct && held is Held && held.holder !== this && lost == null
    private val pool = Executors.newCachedThreadPool { r -> Thread(r, "loopback-node").apply { isDaemon = true } }
    private val pending = ConcurrentHashMap<RemoteCall, Pair<CompletableFuture<Unit>, Future<*>>>()

    @Volatile
    var lost: String? = null

    @Volatile
    var closed: Boolean = false
        private set

    @Volatile
    var admitOverride: ((String) -> String?)? = null

    /** Callables admitted, in order. */
    val admitted: MutableList<String> = java.util.Collections.synchronizedList(ArrayList())

    override fun admit(callable: String) {
        admitted += callable
        val problem = admitOverride?.invoke(callable) ?: RemoteTasks.admissionProblem(callable)
        if (problem != null) throw IllegalStateException(problem)
    }

    override fun execute(call: RemoteCall): CompletableFuture<Unit> {
        lost?.let { throw RemoteNodeLostException(address, it) }
        val done = CompletableFuture<Unit>()
        val job = pool.submit {
            try {
                val units = call.spec.unitSizes.mapIndexed { u, size ->
                    val h = call.heldInput(u)
                    if (h != null) {
                        check(h is Held) { "$address cannot read $h" }
                        if (h.holder === this) {
                            check(h in held) { "$address does not hold $h" }
                            heldReads.incrementAndGet()
                            return@mapIndexed h.bytes.copyOf() // the task may write its copy
                        }
                        val other = h.holder // another node: read it there, as a node would over its data plane
                        other.lost?.let { throw RemoteHeldUnavailable(h, "became unreachable: $it") }
                        if (h !in other.held) throw RemoteHeldUnavailable(h, "no longer holds it")
                        directReads.incrementAndGet()
                        return@mapIndexed h.bytes.copyOf()
                    }
                    val bytes = ByteArray(size.toInt())
                    var off = 0
                    while (off < size) {
                        val n = minOf(chunk, size.toInt() - off)
                        System.arraycopy(call.readUnit(u, off.toLong(), n), 0, bytes, off, n)
                        bytesIn.addAndGet(n.toLong())
                        off += n
                    }
                    bytes
                }
                val results = RemoteTasks.run(call.spec, units, call.path, worker)
                for ((arg, bytes) in results.withIndex()) {
                    if (bytes == null) continue
                    if (keep && call.spec.args[arg].mayStay) {
                        val h = Held(bytes)
                        held += h
                        keptCount.incrementAndGet()
                        call.keepResult(arg, h)
                        continue
                    }
                    var off = 0
                    while (off < bytes.size) {
                        val n = minOf(chunk, bytes.size - off)
                        synchronized(done) { // a lost node writes nothing after its call failed
                            if (done.isDone) return@submit
                            call.writeResult(arg, off.toLong(), bytes.copyOfRange(off, off + n))
                        }
                        bytesBack.addAndGet(n.toLong())
                        off += n
                    }
                }
                synchronized(done) { done.complete(Unit) }
            } catch (t: Throwable) {
                done.completeExceptionally(t)
            } finally {
                pending.remove(call)
            }
        }
        pending[call] = done to job
        return done
    }

    override fun cancel(call: RemoteCall) {
        pending[call]?.second?.cancel(true)
    }

    /** The node vanishes: its calls fail now with [RemoteNodeLostException], later ones at once. */
    fun lose(reason: String) {
        lost = reason
        pending.values.forEach { synchronized(it.first) { it.first.completeExceptionally(RemoteNodeLostException(address, reason)) } }
    }

    override fun close() {
        if (closed) return
        closed = true
        lose("was closed")
        pool.shutdownNow()
    }

    private companion object {
        val next = java.util.concurrent.atomic.AtomicInteger()
    }
}
