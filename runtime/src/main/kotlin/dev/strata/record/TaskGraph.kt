package dev.strata.record

import dev.strata.run.ReplayPlan
import dev.strata.task.Target
import dev.strata.task.TaskArgs
import dev.strata.task.TaskCallable
import dev.strata.tensor.Buffer
import dev.strata.tensor.DType
import kotlinx.coroutines.runBlocking
import kotlinx.serialization.json.Json

/**
 * A program recorded once into an immutable DAG (issue 5 §2): its tasks in submission order, each
 * with its arguments and the earlier tasks it must follow — inferred once, at recording. Replay it with
 * `Worker.run(graph, bindings)`: every [parameter][GraphBuilder.parameter] is bound to a real tensor of
 * the same dtype and shape, and the tasks are submitted again without inferring anything.
 *
 * Guarantees: a replay leaves memory exactly as running the recorded program on the bound tensors would
 * (bindings may not overlap one another or the graph's other tensors: that is checked before anything
 * is dispatched, as are dtypes, shapes and what each target can address). Thread-safe; replay it as
 * often as you like, on any worker that has the targets it names.
 */
public class TaskGraph internal constructor(
    /** The graph's name (in exports and errors). */
    public val name: String,
    internal val nodes: List<Node>,
    internal val parameters: List<Parameter>,
    /** Every buffer the graph's tasks use, with how: checked against each replay's worker. */
    internal val usages: List<Usage>,
    /** The scalar parameters a replay binds, by index. */
    internal val scalarParameters: List<String>,
    /** The gates each replay makes afresh, by index. */
    internal val gates: List<RecordedGate>,
) {
    /** Number of tasks. */
    public val size: Int get() = nodes.size

    /** Every target a task of the graph names (a replay's worker must have each). */
    internal val targets: Set<Target> = nodes.flatMapTo(LinkedHashSet()) { it.targets.asList() }

    /** Number of dependency edges. */
    public val edgeCount: Int get() = nodes.sumOf { it.producers.size }

    /** The tensor parameters a replay binds, by name, in declaration order. */
    public val parameterNames: List<String> get() = parameters.filter { !it.scratch }.map { it.name }

    /** The scalar parameters a replay binds, by name, in declaration order. */
    public val scalarParameterNames: List<String> get() = scalarParameters

    /** Scratch allocations (`alloc`) each replay makes afresh. */
    public val scratchCount: Int get() = parameters.count { it.scratch }

    /** The names of the gates each replay makes afresh, in the order they were recorded. */
    public val gateNames: List<String> get() = gates.map { it.name }

    /** Node i's callable is `callables[callableIndex[i]]`. */
    private val callableIndex: IntArray

    /** The distinct callables of the graph (by identity), in order of first use. */
    internal val callables: Array<TaskCallable>

    init {
        val seen = java.util.IdentityHashMap<TaskCallable, Int>()
        callableIndex = IntArray(nodes.size) { seen.getOrPut(nodes[it].callable) { seen.size } }
        val distinct = ArrayList<TaskCallable>(seen.size)
        for (n in nodes) if (seen[n.callable] == distinct.size) distinct += n.callable
        callables = distinct.toTypedArray()
    }

    /** By index in [callables]: every target the callable runs on in this graph. */
    internal val callableTargets: Array<Array<Target>> = run {
        val sets = Array(callables.size) { LinkedHashSet<Target>() }
        for ((i, n) in nodes.withIndex()) sets[callableIndex[i]].addAll(n.targets)
        Array(sets.size) { sets[it].toTypedArray() }
    }

    /** The nodes laid out for replay, built on first replay. */
    internal val plan: Plan by lazy { Plan(nodes, callableIndex, parameters, gates) }

    /**
     * The nodes as parallel arrays, read in order by a replay: building a task then touches a few
     * sequential arrays instead of chasing each node's objects through the heap (a cache miss apiece).
     */
    internal class Plan(nodes: List<Node>, callableIndex: IntArray, parameters: List<Parameter>, gates: List<RecordedGate>) {
        val size: Int = nodes.size

        /** The parameter index of each scratch allocation, in order. */
        val scratchParams: IntArray = parameters.indices.filter { parameters[it].scratch }.toIntArray()

        /** What the engine reads. */
        val engine: ReplayPlan = run {
            val producerStart = IntArray(size + 1).also { st -> for (i in 0 until size) st[i + 1] = st[i] + nodes[i].producers.size }
            val scratchOf = IntArray(parameters.size) { -1 }.also { for ((k, p) in scratchParams.withIndex()) it[p] = k }
            ReplayPlan(
                names = Array(size) { nodes[it].name },
                callables = Array(size) { nodes[it].callable },
                targets = Array(size) { nodes[it].targets },
                callableIndex = callableIndex,
                producerStart = producerStart,
                producers = IntArray(producerStart[size]).also { all ->
                    for (i in 0 until size) nodes[i].producers.copyInto(all, producerStart[i])
                },
                scratchBytes = LongArray(scratchParams.size) { parameters[scratchParams[it]].placeholder.byteSize },
                scratchUse = Array(size) { i -> nodes[i].scratch?.let { ps -> IntArray(ps.size) { scratchOf[ps[it]] } } },
                gateNames = Array(gates.size) { gates[it].name },
                gateDeps = Array(size) { nodes[it].gates },
            )
        }

        /** A node's bound scalars per member — pairs (position, scalar parameter index) — or null when it has none. */
        val scalarSlots: Array<Array<IntArray?>?> = Array(size) { nodes[it].scalarSlots }

        val members: Array<Array<TaskArgs>> = Array(size) { nodes[it].members }

        /** A single-member node's member when it uses a parameter (else null), and which of its tensors do. */
        val single: Array<TaskArgs?> = Array(size) { i -> nodes[i].takeIf { it.members.size == 1 }?.parameterSlots?.get(0)?.let { nodes[i].members[0] } }
        val singleSlots: Array<IntArray?> = Array(size) { i -> if (single[i] != null) nodes[i].parameterSlots!![0] else null }

        /** A group node's parameter positions per member (null for single-member nodes and nodes without parameters). */
        val groupSlots: Array<Array<IntArray?>?> = Array(size) { i -> nodes[i].parameterSlots?.takeIf { nodes[i].members.size > 1 } }
    }

    /** One recorded task: [producers] are indices of earlier nodes it must follow. */
    internal class Node(
        val index: Int,
        val name: String,
        val callable: TaskCallable,
        val targets: Array<Target>,
        val members: Array<TaskArgs>,
        val producers: IntArray,
        /**
         * For each member, the arguments a replay rebinds — pairs (tensor position, parameter index) — or
         * null when the member uses no parameter; null altogether when no member does.
         */
        val parameterSlots: Array<IntArray?>?,
        /** For each member, its bound scalars — pairs (position, scalar parameter index) — or null; null when no member has any. */
        val scalarSlots: Array<IntArray?>? = null,
        /** The scratch allocations (parameter indices) its members use, or null. */
        val scratch: IntArray? = null,
        /** The recorded gates (indices) it waits for, or null. */
        val gates: IntArray? = null,
    )

    /** A tensor a replay binds, or ([scratch]) allocates afresh for itself. */
    internal class Parameter(val name: String, val dtype: DType, val shape: LongArray, val placeholder: Buffer, val scratch: Boolean = false)

    /** [buffer] is used by tasks on [targets]; [writes] if any of them writes it. */
    internal class Usage(val buffer: Buffer, val targets: Set<Target>, val writes: Boolean)

    /**
     * For each node, its producers minus those another of its producers already depends on (directly or
     * not): the transitive reduction, which orders the tasks exactly as the full edge set does. Null when
     * the graph has more than [MAX_REDUCED_NODES] tasks (the ancestor sets would cost too much memory).
     */
    internal fun reducedProducers(): Array<IntArray>? {
        if (nodes.size > MAX_REDUCED_NODES) return null
        val ancestors = arrayOfNulls<java.util.BitSet>(nodes.size)
        for (n in nodes) { // producers are earlier nodes: one pass in order sees every ancestor set complete
            val a = java.util.BitSet()
            for (p in n.producers) {
                a.or(ancestors[p])
                a.set(p)
            }
            ancestors[n.index] = a
        }
        return Array(nodes.size) { i ->
            val ps = nodes[i].producers
            ps.filter { p -> ps.none { q -> q != p && ancestors[q]!!.get(p) } }.toIntArray()
        }
    }

    /**
     * Graphviz DOT: one box per task (`#i name`, target) and, by default, the transitive reduction of the
     * dependency edges (an edge implied by a longer path is left out: the picture orders tasks exactly
     * as the full DAG does, and Graphviz can lay it out; [toJson] keeps every edge). A comment line says
     * how many edges are drawn. [reduced] false draws every edge.
     */
    @JvmOverloads
    public fun toDot(reduced: Boolean = true): String = buildString {
        val producers = if (reduced) reducedProducers() else null
        append("digraph \"").append(esc(name)).append("\" {\n")
        val drawn = producers?.sumOf { it.size } ?: edgeCount
        append("  // ").append(size).append(" tasks; ").append(drawn).append(" of ").append(edgeCount).append(" dependency edges drawn")
        append(if (producers != null) " (transitive reduction; the JSON export keeps every edge)\n" else "\n")
        append("  rankdir=LR;\n  node [shape=box, fontname=\"Helvetica\", fontsize=10];\n")
        for (n in nodes) {
            val where = if (n.targets.size == 1) "${n.targets[0]}" else "group: ${n.targets.joinToString(", ")}"
            append("  n").append(n.index).append(" [label=\"#").append(n.index).append(' ').append(esc(n.name))
                .append("\\n").append(esc(where)).append("\"];\n")
        }
        for (n in nodes) for (p in producers?.get(n.index) ?: n.producers) append("  n").append(p).append(" -> n").append(n.index).append(";\n")
        append("}\n")
    }

    /** JSON (kotlinx-serialization): parameters, tasks with their arguments, and edges. */
    public fun toJson(): String = JSON.encodeToString(GraphJson.serializer(), toExport())

    override fun toString(): String = "TaskGraph($name, $size tasks, $edgeCount edges, parameters $parameterNames" +
        (if (scalarParameters.isEmpty()) "" else ", scalar parameters $scalarParameters") + ")"

    public companion object {
        private val JSON = Json { prettyPrint = true }

        /** Above this many tasks [toDot] draws every edge (the reduction's ancestor sets grow as tasks²). */
        internal const val MAX_REDUCED_NODES: Int = 20_000

        private fun esc(s: String) = s.replace("\\", "\\\\").replace("\"", "\\\"")

        /**
         * Records [program] into a graph without running anything. The program uses the same calls as a
         * run's (`submit`, `submitGroup`, `scope`, the DSL) plus [GraphBuilder.parameter] for the tensors
         * a replay binds and [GraphBuilder.scalarParameter] for scalars it binds; other tensors it uses are the
         * graph's own and are used by every replay. `alloc` gives scratch memory each replay allocates afresh;
         * `gate`/`after` record gates each replay makes afresh.
         *
         * @throws InvalidSubmitException for a malformed submit, as a run would.
         */
        @JvmStatic
        public fun record(name: String = "graph", program: suspend GraphBuilder.() -> Unit): TaskGraph {
            val b = GraphBuilder(name)
            runBlocking { b.program() }
            return b.build()
        }
    }
}
