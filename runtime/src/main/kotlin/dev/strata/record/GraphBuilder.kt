package dev.strata.record

import dev.strata.error.InvalidSubmitException
import dev.strata.graph.TensorMap
import dev.strata.run.SubmitValidation
import dev.strata.task.Gate
import dev.strata.task.Orchestrator
import dev.strata.task.ScalarParameter
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
    private val validation = SubmitValidation(Int.MAX_VALUE, Int.MAX_VALUE, false, BooleanArray(0), recording = true)
    private var producers: ArrayList<Int>? = null
    private var current: Recorded? = null
    private var allocations = 0
    private val scalarParams = ArrayList<ScalarParameter>()
    private val gates = ArrayList<RecordedGate>()
    /** The gates of the enclosing `after` blocks, innermost last. */
    private val gatesInEffect = ArrayList<RecordedGate>()

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

    /**
     * A scalar each replay binds by [name] (`Worker.run(graph, bindings, scalars = mapOf(name to value))`):
     * pass it to a task with `scalar(parameter)` in the argument block. Tasks read it as any scalar.
     */
    public fun scalarParameter(name: String): ScalarParameter {
        require(scalarParams.none { it.name == name }) { "scalar parameter '$name' is declared twice in graph '${this.name}'" }
        return ScalarParameter(name, this, scalarParams.size).also { scalarParams += it }
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
        var scalarSlots: Array<IntArray?>? = null
        var scratch: IntArray? = null
        for ((k, m) in members.withIndex()) {
            var memberSlots: IntArray? = null
            for (i in 0 until m.tensorCount) {
                val a = m.arg(i)
                val b = a.tensor.buffer
                val param = paramIds[b.id]
                if (param != null) {
                    val pair = intArrayOf(i, param)
                    memberSlots = if (memberSlots == null) pair else memberSlots + pair
                    if (params[param].scratch && (scratch == null || param !in scratch)) scratch = (scratch ?: IntArray(0)) + param
                }
                val u = usages.getOrPut(b.id) { Triple(b, HashSet(), BooleanArray(1)) }
                u.second += targets[k]
                if (a.tag.writes) u.third[0] = true
            }
            if (memberSlots != null) (slots ?: arrayOfNulls<IntArray>(members.size).also { slots = it })[k] = memberSlots
            m.scalarParameters?.let { ps ->
                var pairs = IntArray(0)
                for ((pos, p) in ps.withIndex()) {
                    if (p == null) continue
                    require(p.owner === this) { "graph '${this.name}': task '$taskName' uses $p, which another graph declared" }
                    pairs += intArrayOf(pos, p.index)
                }
                (scalarSlots ?: arrayOfNulls<IntArray>(members.size).also { scalarSlots = it })[k] = pairs
            }
        }
        val shared = targetArrays.getOrPut(targets.asList()) { targets }
        val gated = if (gatesInEffect.isEmpty()) null else gatesInEffect.map { it.index }.distinct().toIntArray()
        nodes += TaskGraph.Node(index, taskName, callable, shared, members, deps.sorted().toIntArray(), slots, scalarSlots, scratch, gated)
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

    /**
     * Scratch memory of the graph: each replay allocates it afresh from the worker's heap ring (as `alloc`
     * in a run; its contents are undefined until a task writes them) and gives it back once the replay's
     * tasks that use it are done. A placeholder here, like a [parameter] that the replay binds itself.
     */
    override suspend fun alloc(dtype: DType, vararg shape: Long): Tensor {
        val bytes = bytesOf(dtype, shape, "alloc in graph '${this.name}'")
        allocations++
        val placeholder = Buffer(bytes, AddressSpace.Host, Access.READ_WRITE, "alloc#$allocations", null)
        params += TaskGraph.Parameter("alloc#$allocations", dtype, shape.copyOf(), placeholder, scratch = true)
        paramIds[placeholder.id] = params.size - 1
        return placeholder.tensor(dtype, *shape)
    }

    /** Scopes are not recorded: a replay holds scratch until its tasks are done, whatever scope allocated it. */
    override suspend fun <T> scope(block: suspend Orchestrator.() -> T): T = block()

    /**
     * A gate each replay makes afresh: tasks recorded inside [after] wait until it is opened. [Gate.open]
     * opens the gate of the replay whose task calls it (a task on a thread of the worker's JVM); called from
     * any other thread, it opens the oldest replay in flight whose gate is still closed.
     */
    override suspend fun gate(name: String): Gate = RecordedGate(this.name, name, gates.size).also { gates += it }

    override suspend fun <T> after(gate: Gate, block: suspend Orchestrator.() -> T): T {
        val g = gate as? RecordedGate ?: throw IllegalArgumentException("graph '${this.name}': $gate was not made by this recording's gate()")
        require(g.index < gates.size && gates[g.index] === g) { "graph '${this.name}': gate '${g.name}' belongs to graph '${g.graph}'" }
        gatesInEffect += g
        try {
            return block()
        } finally {
            gatesInEffect.removeAt(gatesInEffect.lastIndex)
        }
    }

    internal fun build(): TaskGraph = TaskGraph(
        name, nodes.toList(), params.toList(),
        usages.values.map { (b, ts, w) -> TaskGraph.Usage(b, ts.toSet(), w[0]) },
        scalarParams.map { it.name }, gates.toList(),
    )
}
