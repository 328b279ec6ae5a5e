package dev.strata.remote

import dev.strata.endpoint.Dispatch
import dev.strata.endpoint.Endpoint
import dev.strata.error.StrataException
import dev.strata.error.TaskFailedException
import io.github.oshai.kotlinlogging.KotlinLogging

private val log = KotlinLogging.logger {}

/**
 * A child JVM's endpoint on a worker whose remote nodes hold results ([Residency]): a task in a child JVM
 * reads the caller's shared memory directly, so before it is handed over, whatever remote nodes hold of
 * its tensors is fetched into them. The dispatch waits for those bytes without holding a thread (it is
 * handed to [delegate] from the thread that finished the fetch); meanwhile this endpoint counts as busy and
 * [running] shows the task. A successor the child's completion hands back goes through the same check. A
 * lost node holding some of the bytes fails the task with the [dev.strata.error.WorkerDiedException] that
 * names it, without the task running.
 */
internal class FetchingEndpoint(private val delegate: Endpoint, private val residency: Residency) : Endpoint by delegate {
    /** The dispatch waiting for its bytes, if any. */
    @Volatile
    private var waiting: Dispatch? = null

    private lateinit var onDone: (Dispatch) -> Dispatch?

    override val running: Dispatch? get() = waiting ?: delegate.running

    override val busy: Boolean get() = waiting != null || delegate.busy

    override fun start(onDone: (Dispatch) -> Dispatch?) {
        this.onDone = onDone
        delegate.start { d ->
            val next = onDone(d)
            if (next == null || handNow(next)) next else null // a successor that waits for bytes is handed over later
        }
    }

    override fun dispatch(dispatch: Dispatch) {
        if (handNow(dispatch)) delegate.dispatch(dispatch)
    }

    /** True when [d] can go to the child now; else it waits for its bytes and goes (or fails) once they arrived. */
    private fun handNow(d: Dispatch): Boolean {
        val fetch = residency.fetchFor(d.task.members[d.member], "task #${d.task.id} '${d.task.name}'") ?: return true
        if (fetch.isDone && !fetch.isCompletedExceptionally) return true
        waiting = d
        fetch.whenComplete { _, e ->
            try {
                when {
                    e != null -> fail(d, Residency.unwrap(e))
                    d.stopRequested -> fail(d, TaskFailedException.of(path, d.task.id, d.task.name, InterruptedException("task #${d.task.id} '${d.task.name}' was stopped before it started")))
                    else -> try {
                        delegate.dispatch(d)
                    } catch (t: Throwable) {
                        fail(d, if (t is StrataException) t else TaskFailedException.of(path, d.task.id, d.task.name, t))
                    }
                }
            } finally {
                if (waiting === d) waiting = null
            }
        }
        return false
    }

    /** Reports [d] failed with [error] (it never ran), and dispatches the successor the report hands back, if any. */
    private fun fail(d: Dispatch, error: Throwable) {
        d.error = error
        waiting = null
        val next = try {
            onDone(d)
        } catch (t: Throwable) {
            log.error(t) { "$path could not report the completion of ${d.task}" }
            null
        }
        if (next != null) dispatch(next)
    }
}
