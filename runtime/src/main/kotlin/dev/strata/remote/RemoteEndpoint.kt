package dev.strata.remote

import dev.strata.endpoint.Dispatch
import dev.strata.endpoint.Endpoint
import dev.strata.endpoint.StopReason
import dev.strata.error.InvalidCallableException
import dev.strata.error.RemoteException
import dev.strata.error.TaskFailedException
import dev.strata.error.WorkerDiedException
import dev.strata.process.CallableNames
import dev.strata.task.TaskCallable
import io.github.oshai.kotlinlogging.KotlinLogging
import java.util.concurrent.CompletableFuture
import java.util.concurrent.ConcurrentHashMap
import java.util.concurrent.atomic.AtomicReference

private val log = KotlinLogging.logger {}

/**
 * A next-level child on another host (issue 15): the third endpoint kind beside threads and child JVMs.
 * It runs one dispatch at a time through its [link], asynchronously: [dispatch] hands the task to the
 * transport and returns; the transport's completion reports it (on the transport's thread).
 *
 * Its [path] carries the node's address (`L4 node#1@127.0.0.1:25520`), so every error about it — and the
 * prefix of a failure inside the node (`L4 node#1@127.0.0.1:25520 / L3 sub#0`) — names the host. A lost
 * node fails the task it runs with [WorkerDiedException]; later dispatches fail at once with the same
 * error until [RemoteLink] says otherwise (a node that rejoined is tried again by the next dispatch).
 */
internal class RemoteEndpoint(
    basePath: String,
    override val index: Int,
    private val link: RemoteLink,
    /** What the worker's nodes hold; null: results always come back at once. */
    private val residency: Residency? = null,
) : Endpoint {
    override val path: String = "$basePath@${link.address}"

    private val current = AtomicReference<Dispatch?>()

    /** The call of [current] (one dispatch at a time), for [stop]. */
    @Volatile
    private var call: RemoteCall? = null
    private val admitted = ConcurrentHashMap.newKeySet<String>()
    private lateinit var onDone: (Dispatch) -> Dispatch?

    @Volatile
    private var closed = false

    override val running: Dispatch? get() = current.get()

    @Volatile
    override var runningSinceNanos: Long = 0
        private set

    @Volatile
    override var lastProgressNanos: Long = System.nanoTime()
        private set

    override fun start(onDone: (Dispatch) -> Dispatch?) {
        this.onDone = onDone
    }

    /**
     * Admits [callable] for this node: it needs a stable name, and the node must be able to load it (asked
     * once per callable). Throws [InvalidCallableException] naming the node and the class otherwise, and
     * [WorkerDiedException] when the node is lost.
     */
    fun admit(callable: TaskCallable) {
        val name = try {
            CallableNames.stableName(callable)
        } catch (e: InvalidCallableException) {
            val why = e.message?.substringAfter(": ")?.substringBefore(". ") ?: "it has no stable name"
            throw InvalidCallableException(
                callable.javaClass.name,
                "$why. A remote node loads callables by name from its own classpath: use an `object : TaskCallable`, a top-level " +
                    "class with a no-arg constructor, or callable(::topLevelFunction), in a jar the node has",
                "on remote node $path",
            )
        }
        if (name in admitted) return
        try {
            link.admit(name)
        } catch (e: RemoteNodeLostException) {
            throw WorkerDiedException.remote(path, e.reason, null) // a lost node fails fast, at submit
        } catch (e: Exception) {
            throw InvalidCallableException(callable.javaClass.name, e.message ?: e.javaClass.name, "on remote node $path")
        }
        admitted += name
    }

    override fun dispatch(dispatch: Dispatch) {
        if (closed) throw IllegalStateException("$path is closed")
        val t = dispatch.task
        val args = t.members[dispatch.member]
        val plan = residency?.planRemote(args, link, "task #${t.id} '${t.name}'")
        val call = try {
            RemoteCall.of(
                path, t.id, dispatch.member, t.members.size, t.name, CallableNames.stableName(t.callable!!), args,
                plan?.held ?: emptyMap(), keep = residency != null && link.keepsResults && t.members.size == 1,
            )
        } catch (e: Throwable) {
            residency?.abort(plan)
            throw e
        }
        check(current.compareAndSet(null, dispatch)) { "$path got a dispatch while running ${current.get()?.task}" }
        runningSinceNanos = System.nanoTime()
        lastProgressNanos = runningSinceNanos
        this.call = call
        if (plan == null || plan.ready.isDone && !plan.ready.isCompletedExceptionally) {
            val future = try {
                link.execute(call)
            } catch (e: Throwable) {
                this.call = null
                current.set(null)
                residency?.abort(plan)
                throw translate(dispatch, e)
            }
            future.whenComplete { _, e -> finish(dispatch, e, plan) }
        } else {
            // Bytes that nodes hold must reach the caller's tensors before this task's inputs leave them.
            plan.ready.whenComplete { _, fetchError ->
                val future = when {
                    fetchError != null -> CompletableFuture.failedFuture(fetchError)
                    dispatch.stopRequested -> CompletableFuture.failedFuture(InterruptedException("task #${t.id} '${t.name}' was stopped before it started"))
                    else -> try {
                        link.execute(call)
                    } catch (e: Throwable) {
                        CompletableFuture.failedFuture(e)
                    }
                }
                future.whenComplete { _, e -> finish(dispatch, e, plan) }
            }
        }
    }

    private fun finish(dispatch: Dispatch, error: Throwable?, plan: Residency.Plan?) {
        val c = call
        var e = error
        if (residency != null && c != null) {
            if (e == null) {
                residency.commit(plan, c, path)
            } else {
                val cause = Residency.unwrap(e)
                if (cause is RemoteHeldUnavailable) { // the node that held an input is gone: name it, not this one
                    e = residency.unavailable(plan, cause.held, cause.reason, "task #${dispatch.task.id} '${dispatch.task.name}'")
                }
                residency.abort(plan)
            }
        }
        finish(dispatch, e)
    }

    private fun finish(dispatch: Dispatch, error: Throwable?) {
        call = null
        dispatch.error = error?.let { translate(dispatch, it) }
        current.set(null)
        lastProgressNanos = System.nanoTime()
        try {
            val next = onDone(dispatch)
            if (next != null) dispatch(next) // never for next-level children (the hand-off chains sub tasks only)
        } catch (t: Throwable) {
            log.error(t) { "$path could not report the completion of ${dispatch.task}" }
        }
    }

    /** The error the scheduler sees for [e], which the link raised for [d]. */
    private fun translate(d: Dispatch, e: Throwable): Throwable {
        val t = d.task
        return when (val cause = Residency.unwrap(e)) {
            is WorkerDiedException -> cause // a node that held this task's inputs was lost (Residency names it)
            is RemoteNodeLostException -> WorkerDiedException.remote(path, cause.reason, "task #${t.id} '${t.name}'")
            is RemoteTaskFailure -> TaskFailedException(
                if (cause.nestedPath.isNullOrEmpty()) path else "$path / ${cause.nestedPath}",
                if (cause.nestedPath.isNullOrEmpty()) t.id else cause.taskId,
                if (cause.nestedPath.isNullOrEmpty()) t.name else cause.taskName,
                cause.errorClass, cause.errorMessage, cause.errorStack,
                RemoteException(cause.errorClass, cause.errorMessage, cause.errorStack),
            )
            else -> TaskFailedException.of(path, t.id, t.name, cause)
        }
    }

    override fun ownsCurrentThread(): Boolean = false

    override fun stop(dispatch: Dispatch, reason: StopReason) {
        dispatch.stopRequested = true // a task still waiting for its inputs does not start
        val c = call
        if (c != null && current.get() === dispatch) runCatching { link.cancel(c) }
    }

    override fun describeRunning(dispatch: Dispatch, forNanos: Long): String =
        "$path (a remote node) has been running task #${dispatch.task.id} '${dispatch.task.name}' for ${forNanos / 1_000_000} ms"

    override fun close(timeoutMillis: Long) {
        if (closed) return
        closed = true
        runCatching { link.close() }.onFailure { log.warn(it) { "$path: closing its link failed" } }
    }
}
