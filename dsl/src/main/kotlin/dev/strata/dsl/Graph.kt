package dev.strata.dsl

import dev.strata.graph.GraphBuilder
import dev.strata.graph.TaskGraph

/**
 * Records [program] into a [TaskGraph] without running it; replay it with `worker.run(graph, bindings)`.
 * The program is written as a run's is, plus `parameter(name, dtype, shape)` for the tensors a replay binds:
 *
 * ```
 * val step = taskGraph("step") {
 *     val x = parameter("x", DType.F32, 1024)
 *     val y = parameter("y", DType.F32, 1024)
 *     submit(sub, "scale", { input(x); output(y) }, Scale)
 * }
 * worker.run(step, mapOf("x" to a, "y" to b))     // dependencies were inferred once, when recording
 * ```
 */
public fun taskGraph(name: String = "graph", program: suspend GraphBuilder.() -> Unit): TaskGraph = TaskGraph.record(name, program)
