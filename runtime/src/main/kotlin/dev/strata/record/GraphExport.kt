package dev.strata.record

import dev.strata.tensor.Tensor
import kotlinx.serialization.Serializable

/** The JSON export of a [TaskGraph]. */
@Serializable
internal data class GraphJson(
    val name: String,
    val parameters: List<ParameterJson>,
    val tasks: List<NodeJson>,
    val scalarParameters: List<String> = emptyList(),
    val gates: List<String> = emptyList(),
) {
    /** A tensor parameter, or ([scratch]) memory each replay allocates afresh (`alloc`). */
    @Serializable
    data class ParameterJson(val name: String, val dtype: String, val shape: List<Long>, val scratch: Boolean = false)

    @Serializable
    data class NodeJson(
        val id: Int,
        val name: String,
        val callable: String,
        val targets: List<String>,
        val members: List<MemberJson>,
        val after: List<Int>,
        /** The gates (names) it waits for. */
        val gates: List<String> = emptyList(),
    )

    /** [scalarParameters]: by scalar position (as text), the scalar parameter each replay binds there. */
    @Serializable
    data class MemberJson(val tensors: List<TensorJson>, val scalars: List<Long>, val scalarParameters: Map<String, String> = emptyMap())

    /** A tensor argument: a view of [parameter], or of the graph's own buffer [buffer]. */
    @Serializable
    data class TensorJson(
        val tag: String,
        val parameter: String?,
        val buffer: String?,
        val space: String,
        val dtype: String,
        val byteOffset: Long,
        val shape: List<Long>,
        val strides: List<Long>,
    )
}

/** The graph as its JSON export's data model. */
internal fun TaskGraph.toExport(): GraphJson {
    val params = parameters.associateBy { it.placeholder.id }
    fun tensor(tag: String, t: Tensor) = GraphJson.TensorJson(
        tag, params[t.buffer.id]?.name, if (params.containsKey(t.buffer.id)) null else t.buffer.label,
        t.buffer.addressSpace.toString(), t.dtype.name, t.byteOffset, t.shape.toList(), t.strides.toList(),
    )
    return GraphJson(
        name,
        parameters.map { GraphJson.ParameterJson(it.name, it.dtype.name, it.shape.toList(), it.scratch) },
        nodes.map { n ->
            GraphJson.NodeJson(
                n.index, n.name, n.callable.javaClass.name, n.targets.map { it.toString() },
                n.members.mapIndexed { k, m ->
                    val bound = n.scalarSlots?.get(k)?.let { pairs -> (pairs.indices step 2).associate { "${pairs[it]}" to scalarParameters[pairs[it + 1]] } }
                    GraphJson.MemberJson(
                        (0 until m.tensorCount).map { tensor(m.arg(it).tag.name, m.tensor(it)) },
                        (0 until m.scalarCount).map { m.scalar(it) },
                        bound ?: emptyMap(),
                    )
                },
                n.producers.toList(),
                n.gates?.map { gates[it].name } ?: emptyList(),
            )
        },
        scalarParameters,
        gates.map { it.name },
    )
}
