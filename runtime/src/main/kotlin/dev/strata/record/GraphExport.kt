package dev.strata.record

import dev.strata.tensor.Tensor
import kotlinx.serialization.Serializable

/** The JSON export of a [TaskGraph]. */
@Serializable
internal data class GraphJson(val name: String, val parameters: List<ParameterJson>, val tasks: List<NodeJson>) {
    @Serializable
    data class ParameterJson(val name: String, val dtype: String, val shape: List<Long>)

    @Serializable
    data class NodeJson(
        val id: Int,
        val name: String,
        val callable: String,
        val targets: List<String>,
        val members: List<MemberJson>,
        val after: List<Int>,
    )

    @Serializable
    data class MemberJson(val tensors: List<TensorJson>, val scalars: List<Long>)

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
        parameters.map { GraphJson.ParameterJson(it.name, it.dtype.name, it.shape.toList()) },
        nodes.map { n ->
            GraphJson.NodeJson(
                n.index, n.name, n.callable.javaClass.name, n.targets.map { it.toString() },
                n.members.map { m ->
                    GraphJson.MemberJson(
                        (0 until m.tensorCount).map { tensor(m.arg(it).tag.name, m.tensor(it)) },
                        (0 until m.scalarCount).map { m.scalar(it) },
                    )
                },
                n.producers.toList(),
            )
        },
    )
}
