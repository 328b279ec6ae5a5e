package dev.strata.dsl

import dev.strata.record.GraphBuilder
import dev.strata.record.TaskGraph

/**
 * Records [program] into a [TaskGraph] without running it; replay it with `worker.run(graph, bindings)`.
 * The program is written as a run's is, plus `parameter(name, dtype, shape)` for the tensors a replay binds:
 *
 * ```
 * val step = taskGraph("step") {
 *     val x = parameter("x", DType.F32, 1024)
 *     val y = parameter("y", DType.F32, 1024)
 *     submit(sub, "scale", { input(x); output(y) }) { ctx ->
 *         for (i in 0L until 1024) ctx.tensor(1).setFloat(i, 2 * ctx.tensor(0).getFloat(i))
 *     }
 * }
 * worker { subWorkers(2) }.use { w ->
 *     val a = w.hostTensor(DType.F32, 1024).also { it.fill(1f) }
 *     val b = w.hostTensor(DType.F32, 1024)
 *     w.run(step, mapOf("x" to a, "y" to b))     // dependencies were inferred once, when recording
 *     check(b.getFloat(1023) == 2f)
 * }
 * ```
 */
public fun taskGraph(name: String = "graph", program: suspend GraphBuilder.() -> Unit): TaskGraph = TaskGraph.record(name, program)
