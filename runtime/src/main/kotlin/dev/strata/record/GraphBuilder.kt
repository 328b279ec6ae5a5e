package dev.strata.record

import dev.strata.error.InvalidSubmitException
import dev.strata.graph.TensorMap
import dev.strata.run.SubmitValidation
import dev.strata.task.Gate
import dev.strata.task.Orchestrator
import dev.strata.task.Target
import dev.strata.task.TaskArgs
import dev.strata.task.TaskCallable
import dev.strata.tensor.Access
import dev.strata.tensor.AddressSpace
import dev.strata.tensor.Buffer
import dev.strata.tensor.DType
import dev.strata.tensor.Tensor
import dev.strata.tensor.bytesOf

/**
 * The receiver of a recorded program ([TaskGraph.record], `taskGraph { }` in the DSL): an
 * [Orchestrator] whose submits are recorded, plus [parameter]. Single-threaded, valid only inside the
 * recording.
 */
public class GraphBuilder internal constructor(private val name: String) : Orchestrator {
    private val map = TensorMap<Recorded>()
    private val nodes = ArrayList<TaskGraph.Node>()
    private val params = ArrayList<TaskGraph.Parameter>()
    /** Parameter index by placeholder buffer id. */
    private val paramIds = HashMap<Long, Int>()
    private val usages = LinkedHashMap<Long, Triple<Buffer, MutableSet<Target>, BooleanArray>>()
    private val validation = SubmitValidation(Int.MAX_VALUE, Int.MAX_VALUE, false, BooleanArray(0))
    private var producers: ArrayList<Int>? = null
    private var current: Recorded? = null
    private var allocations = 0

    /** One array per distinct target list: a replay's tasks share them (and the workers' caches do too). */
    private val targetArrays = HashMap<List<Target>, Array<Target>>()

    override val runId: Long get() = 0

    /**
     * A tensor the replay binds: [dtype] and [shape] here; at replay, a contiguous row-major tensor of the
     * same dtype and shape under [name]. Views of it (slices, tiles) are recorded relative to it.
     */
    public fun parameter(name: String, dtype: DType, vararg shape: Long): Tensor {
        require(params.none { it.name == name }) { "parameter '$name' is declared twice in graph '${this.name}'" }
        val bytes = bytesOf(dtype, shape, "parameter '$name' of graph '${this.name}'")
        val placeholder = Buffer(bytes, AddressSpace.Host, Access.READ_WRITE, "parameter '$name'", null)
        params += TaskGraph.Parameter(name, dtype, shape.copyOf(), placeholder)
        paramIds[placeholder.id] = params.size - 1
        return placeholder.tensor(dtype, *shape)
    }

    override suspend fun submit(target: Target, callable: TaskCallable, args: TaskArgs, name: String?) {
        add(arrayOf(target), arrayOf(args), callable, name)
    }

    override suspend fun submitGroup(targets: List<Target>, callable: TaskCallable, members: List<TaskArgs>, name: String?) {
        require(targets.size == members.size) { "a group needs one target per member: ${targets.size} targets for ${members.size} members" }
        add(targets.toTypedArray(), members.toTypedArray(), callable, name)
    }

    private fun add(targets: Array<Target>, members: Array<TaskArgs>, callable: TaskCallable, name: String?) {
        val taskName = name ?: callable.javaClass.name.substringAfterLast('.').ifEmpty { callable.javaClass.name }
        validation.validate(targets, members).onLeft { problems ->
            val subject = "graph '${this.name}': task '$taskName' -> " + (if (targets.size == 1) "${targets[0]}" else "group of ${targets.size}")
            throw InvalidSubmitException(subject, problems)
        }
        val index = nodes.size
        val t = Recorded(index)
        val deps = ArrayList<Int>(2)
        producers = deps
        current = t
        map.infer(t, members, sink)
        current = null
        var slots: Array<IntArray?>? = null
        for ((k, m) in members.withIndex()) {
            var memberSlots: IntArray? = null
            for (i in 0 until m.tensorCount) {
                val a = m.arg(i)
                val b = a.tensor.buffer
                val param = paramIds[b.id]
                if (param != null) {
                    val pair = intArrayOf(i, param)
                    memberSlots = if (memberSlots == null) pair else memberSlots + pair
                }
                val u = usages.getOrPut(b.id) { Triple(b, HashSet(), BooleanArray(1)) }
                u.second += targets[k]
                if (a.tag.writes) u.third[0] = true
            }
            if (memberSlots != null) (slots ?: arrayOfNulls<IntArray>(members.size).also { slots = it })[k] = memberSlots
        }
        val shared = targetArrays.getOrPut(targets.asList()) { targets }
        nodes += TaskGraph.Node(index, taskName, callable, shared, members, deps.sorted().toIntArray(), slots)
    }

    private val sink = TensorMap.DependencySink<Recorded> { producer ->
        val consumer = current!!
        if (producer.lastConsumer != consumer.index) { // a producer found through several arguments counts once
            producer.lastConsumer = consumer.index
            producers!! += producer.index
        }
    }

    /** A node as the TensorMap sees it while recording: its accesses order later nodes for good. */
    private class Recorded(val index: Int) : TensorMap.Owner() {
        var lastConsumer = -1
        override val isConsumed: Boolean get() = false
    }

    /** Recorded for export (a scratch buffer of the scope); a graph with allocations cannot be replayed. */
    override suspend fun alloc(dtype: DType, vararg shape: Long): Tensor {
        val bytes = bytesOf(dtype, shape, "alloc in graph '${this.name}'")
        allocations++
        return Buffer(bytes, AddressSpace.Host, Access.READ_WRITE, "alloc#$allocations", null).tensor(dtype, *shape)
    }

    override suspend fun <T> scope(block: suspend Orchestrator.() -> T): T = block()

    override suspend fun gate(name: String): Gate =
        throw UnsupportedOperationException("graph '${this.name}': gates cannot be recorded; submit gated work in a run")

    override suspend fun <T> after(gate: Gate, block: suspend Orchestrator.() -> T): T =
        throw UnsupportedOperationException("graph '${this.name}': gates cannot be recorded; submit gated work in a run")

    internal fun build(): TaskGraph = TaskGraph(
        name, nodes.toList(), params.toList(),
        usages.values.map { (b, ts, w) -> TaskGraph.Usage(b, ts.toSet(), w[0]) }, allocations,
    )
}
