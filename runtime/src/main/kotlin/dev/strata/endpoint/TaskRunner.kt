package dev.strata.endpoint

import dev.strata.graph.Run
import dev.strata.graph.Task
import dev.strata.task.ChipView
import dev.strata.task.Runner
import dev.strata.task.TaskContext

/**
 * How a [ThreadEndpoint] runs one member of a task on its own thread. The worker that assembles the
 * endpoint chooses it (call the callable with a context; or launch it on a chip in this JVM), so the
 * endpoint never names what it runs on. Throwing fails the member.
 */
internal fun interface TaskRunner {
    fun run(task: Task, member: Int)

    companion object {
        /**
         * Calls the task's callable directly with a [TaskContext] for [path]; [nested] is what the task sees
         * as `ctx.worker` and [chip] as `ctx.chip` (both optional).
         */
        fun calling(path: String, nested: Runner? = null, chip: ChipView? = null): TaskRunner = TaskRunner { task, member ->
            val context = TaskContext(task.members[member], member, task.members.size, path, nested, chip)
            val run = task.run
            if (!run.opensRecordedGates) {
                task.callable!!.call(context)
            } else {
                Run.CURRENT.set(run) // a recorded gate opened by this task opens its replay's instance
                try {
                    task.callable!!.call(context)
                } finally {
                    Run.CURRENT.remove()
                }
            }
        }
    }
}

/**
 * Thrown by a [TaskRunner] when the task could not start (its inputs could not be fetched): the dispatch
 * fails with [error] as it is, not wrapped as the task's own failure.
 */
internal class DispatchFailure(val error: Throwable) : RuntimeException(error.message, null, false, false)
