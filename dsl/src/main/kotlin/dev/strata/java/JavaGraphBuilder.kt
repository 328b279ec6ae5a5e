package dev.strata.java

import dev.strata.record.GraphBuilder
import dev.strata.task.ScalarParameter
import dev.strata.tensor.DType
import dev.strata.tensor.Tensor

/**
 * What the `Consumer` given to [Strata.taskGraph] receives: a [JavaProgram] whose submits are recorded
 * into a [dev.strata.record.TaskGraph] instead of run, plus [parameter] for the tensors each replay binds.
 * Dependencies are inferred once, while recording. `alloc` gives scratch memory each replay allocates
 * afresh, and gates are made afresh by each replay. Valid only inside the recording, on its thread.
 */
public class JavaGraphBuilder internal constructor(private val graph: GraphBuilder) : JavaProgram(graph) {
    /**
     * A tensor that each replay binds by [name] (`worker.run(graph, Map.of(name, tensor))`): of [dtype] and
     * [shape] here, a contiguous tensor of the same dtype and shape at replay. Views of it (slices, tiles)
     * are recorded relative to it. Throws [IllegalArgumentException] if [name] is declared twice.
     */
    public fun parameter(name: String, dtype: DType, vararg shape: Long): Tensor {
        checkUsable()
        return graph.parameter(name, dtype, *shape)
    }

    /**
     * A scalar that each replay binds by [name] (`worker.run(graph, tensors, Map.of(name, value))`); pass it
     * with `TaskArgs.Builder.scalar(ScalarParameter)`. Throws [IllegalArgumentException] if [name] is declared twice.
     */
    public fun scalarParameter(name: String): ScalarParameter {
        checkUsable()
        return graph.scalarParameter(name)
    }
}
