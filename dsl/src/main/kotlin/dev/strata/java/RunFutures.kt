package dev.strata.java

import dev.strata.task.Orchestrator
import dev.strata.task.Runner
import dev.strata.run.RunHandle
import dev.strata.run.RunStats
import dev.strata.worker.Worker
import kotlinx.coroutines.CoroutineName
import kotlinx.coroutines.CoroutineScope
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.SupervisorJob
import kotlinx.coroutines.launch
import java.util.concurrent.CompletableFuture
import java.util.function.Consumer

/** Runs as Java sees them: a program is a `Consumer<JavaProgram>`, a run in flight a `CompletableFuture`. */
internal object RunFutures {
    /**
     * Where run futures are completed, so the stages a caller chains on them never run on the
     * thread that completes the run (an endpoint's, or one taking a scheduling step): a slow or blocking stage there would stall every run of
     * the worker, and one that starts a run there would deadlock it. IO threads tolerate blocking stages.
     */
    private val completions = CoroutineScope(SupervisorJob() + Dispatchers.IO + CoroutineName("strata-run-futures"))

    /** Builds [program] on the calling thread as a run of [worker]; the future follows the run. */
    fun submit(worker: Worker, program: Consumer<JavaProgram>): RunFuture =
        future(worker.submit { build(this, program) })

    /** Builds and waits for a run of [program] on [worker]; throws the run's first error. */
    fun run(worker: Runner, program: Consumer<JavaProgram>) {
        worker.run { build(this, program) }
    }

    /** Runs [program] with a [JavaProgram] over [orchestrator], valid only while the program runs. */
    private fun build(orchestrator: Orchestrator, program: Consumer<JavaProgram>) {
        val p = JavaProgram(orchestrator)
        try {
            program.accept(p)
        } finally {
            p.close()
        }
    }

    /** A future completed when [handle]'s run finished: normally, or exceptionally with the run's first error. */
    fun future(handle: RunHandle): RunFuture {
        val f = RunFuture(handle)
        if (handle.isDone) {
            f.settle()
        } else {
            completions.launch {
                runCatching { handle.await() } // only waits: the outcome is read from the handle
                f.settle()
            }
        }
        return f
    }
}

/**
 * A run in flight, as Java sees it: a `CompletableFuture` that completes when every task finished
 * (normally, or exceptionally with the run's first error), plus the run's [stats]. Cancelling it cancels
 * the run: tasks not yet dispatched are skipped, running ones finish.
 */
public class RunFuture internal constructor(private val handle: RunHandle) : CompletableFuture<Void?>() {
    /** The run's sequence number in its worker. */
    public val runId: Long get() = handle.id

    /** The run's statistics (tasks by final state, wall time, back-pressure); exact once it finished. */
    public val stats: RunStats get() = handle.stats

    /** Completes this future with the outcome of the finished run. */
    internal fun settle() {
        val error = handle.error
        if (error == null) complete(null) else completeExceptionally(error)
    }

    override fun cancel(mayInterruptIfRunning: Boolean): Boolean {
        val cancelled = super.cancel(mayInterruptIfRunning)
        if (cancelled) handle.cancel()
        return cancelled
    }

    override fun toString(): String = "RunFuture(run #${handle.id}, ${super.toString()})"
}
