package dev.strata.remote

import dev.strata.task.Runner
import java.util.concurrent.CompletableFuture
import java.util.concurrent.ConcurrentHashMap
import java.util.concurrent.Executors
import java.util.concurrent.Future

/**
 * A [RemoteLink] to a "node" in this JVM, for tests of the remote endpoint without a cluster: each call
 * runs on its own thread, which pulls the transfer units in [chunk]-byte reads (as a transport would),
 * runs the task with [RemoteTasks.run] on [worker], and writes the results back in chunks. [lose] plays a
 * node that vanished; [admitOverride] a node that cannot load classes.
 */
class LoopbackLink(
    override val level: Int,
    private val worker: Runner? = null,
    override val address: String = "loopback:${next.incrementAndGet()}",
    private val chunk: Int = 4096,
) : RemoteLink {
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
                    val bytes = ByteArray(size.toInt())
                    var off = 0
                    while (off < size) {
                        val n = minOf(chunk, size.toInt() - off)
                        System.arraycopy(call.readUnit(u, off.toLong(), n), 0, bytes, off, n)
                        off += n
                    }
                    bytes
                }
                val results = RemoteTasks.run(call.spec, units, call.path, worker)
                for ((arg, bytes) in results.withIndex()) {
                    if (bytes == null) continue
                    var off = 0
                    while (off < bytes.size) {
                        val n = minOf(chunk, bytes.size - off)
                        synchronized(done) { // a lost node writes nothing after its call failed
                            if (done.isDone) return@submit
                            call.writeResult(arg, off.toLong(), bytes.copyOfRange(off, off + n))
                        }
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
