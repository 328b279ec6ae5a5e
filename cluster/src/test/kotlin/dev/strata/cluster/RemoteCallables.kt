package dev.strata.cluster

import dev.strata.task.TaskArgs
import dev.strata.task.TaskCallable
import dev.strata.task.TaskContext
import dev.strata.task.Target
import java.lang.foreign.ValueLayout

// Callables of the cluster specs: found by name on the nodes (whose classpath holds this module's test classes).

/** out[k] = k * scalar0 + scalar1 over I64 elements (a deterministic fill of any size). */
object FillI64 : TaskCallable {
    override fun call(context: TaskContext) {
        val out = context.tensor(0).asSegment()
        val a = context.scalar(0)
        val b = context.scalar(1)
        for (k in 0 until out.byteSize() / 8) out.set(ValueLayout.JAVA_LONG_UNALIGNED, k * 8, k * a + b)
    }
}

/** out[0] = sum of in's I64 elements; out[1] = the worker path's length (what the node saw). */
object SumI64 : TaskCallable {
    override fun call(context: TaskContext) {
        val input = context.tensor(0).asSegment()
        var s = 0L
        for (k in 0 until input.byteSize() / 8) s += input.get(ValueLayout.JAVA_LONG_UNALIGNED, k * 8)
        context.tensor(1).setLong(0, s)
    }
}

/** x[0] += scalar 0. */
object AddI64 : TaskCallable {
    override fun call(context: TaskContext) {
        val x = context.tensor(0)
        x.setLong(0, x.getLong(0) + context.scalar(0))
    }
}

/** Fails with a message naming where it ran. */
object Fail : TaskCallable {
    override fun call(context: TaskContext) = throw IllegalStateException("failed on ${context.workerPath}")
}

/** Runs a nested run on the node's worker whose sub task fails. */
object NestedFail : TaskCallable {
    override fun call(context: TaskContext) = context.worker.run { submit(Target.Sub, Fail, TaskArgs.EMPTY, "inner") }
}

/** Sleeps for scalar 0 milliseconds: a task that is running when its node dies or freezes. */
object SleepMillis : TaskCallable {
    override fun call(context: TaskContext) = Thread.sleep(context.scalar(0))
}

/** On a level-5 worker's pod (a level-4 worker): adds scalar 0 to x[0] on the pod's remote node 0 (a nested run). */
object AddOnPodNode : TaskCallable {
    override fun call(context: TaskContext) {
        val x = context.tensor(0)
        val v = context.scalar(0)
        context.worker.run { submit(Target.Next(0), AddI64, TaskArgs.build { inout(x); scalar(v) }, "add-on-node") }
    }
}

/** On a pod: runs [NestedFail] on the pod's remote node 0. */
object NestedFailOnPodNode : TaskCallable {
    override fun call(context: TaskContext) = context.worker.run { submit(Target.Next(0), NestedFail, TaskArgs.EMPTY, "node-task") }
}
