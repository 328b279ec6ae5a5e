package dev.strata.schedule

import dev.strata.endpoint.Dispatch
import dev.strata.graph.Task
import dev.strata.task.TaskArgs
import dev.strata.tensor.Tag
import dev.strata.trace.WorkerTrace

/** The track of a worker's scheduler: skips and refused dispatches are marked on it. */
internal const val SCHEDULER_TRACK = "scheduler"

/**
 * Records member [d] of a task, which ended at [endNanos], as a span on its endpoint's track: from when it
 * started running (the endpoint's own start when it reports one, else its dispatch) to its end, with when
 * the task was submitted, became ready and was dispatched. A no-op for a task that carries no times.
 */
internal fun WorkerTrace.member(d: Dispatch, endNanos: Long) {
    val t = d.task
    val times = t.times ?: return
    val start = if (d.startedNanos != 0L) d.startedNanos else times.dispatched
    val error = d.error
    span(d.endpoint.path, t.name, if (error == null) "completed" else "failed", start, endNanos, buildMap {
        put("run", t.run.id)
        put("task", t.id)
        if (t.isGroup) {
            put("member", d.member)
            put("members", t.members.size)
        }
        put("callable", t.callable?.javaClass?.name ?: "?")
        put("args", argsSummary(t.members[d.member]))
        put("submitted_us", us(times.submitted))
        put("ready_us", us(times.ready))
        put("dispatched_us", us(times.dispatched))
        if (error != null) put("error", error.message ?: error.toString())
    })
}

/** Marks [t] skipped (it never ran) on the scheduler's track. */
internal fun WorkerTrace.skipped(t: Task) {
    val times = t.times ?: return
    mark(SCHEDULER_TRACK, "skipped: ${t.name}", "skipped", System.nanoTime(), buildMap {
        put("run", t.run.id)
        put("task", t.id)
        put("submitted_us", us(times.submitted))
    })
}

/** Marks a dispatch of [t] to [endpoint] that the endpoint refused (dead or closed). */
internal fun WorkerTrace.refused(t: Task, endpoint: String, error: Throwable) {
    if (t.times == null) return
    mark(SCHEDULER_TRACK, "dispatch refused: ${t.name}", "failed", System.nanoTime(), mapOf("run" to t.run.id, "task" to t.id, "endpoint" to endpoint, "error" to (error.message ?: error.toString())))
}

private fun WorkerTrace.us(nanos: Long): Double = if (nanos == 0L) 0.0 else (nanos - trace.originNanos) / 1_000.0

/** `in f32[4,256] · out f32[256] · 1 scalar`: what a span shows of its arguments. */
internal fun argsSummary(args: TaskArgs): String {
    val parts = ArrayList<String>(args.tensorCount + 1)
    for (i in 0 until args.tensorCount) {
        val a = args.arg(i)
        val tag = when (a.tag) {
            Tag.INPUT -> "in"
            Tag.OUTPUT -> "out"
            Tag.INOUT -> "inout"
            Tag.OUTPUT_EXISTING -> "out-existing"
            Tag.NO_DEP -> "no-dep"
        }
        parts += "$tag ${a.tensor.dtype.name.lowercase()}${a.tensor.shape.joinToString(",", "[", "]")}"
    }
    if (args.scalarCount > 0) parts += "${args.scalarCount} scalar" + if (args.scalarCount > 1) "s" else ""
    return parts.joinToString(" · ").ifEmpty { "no arguments" }
}
