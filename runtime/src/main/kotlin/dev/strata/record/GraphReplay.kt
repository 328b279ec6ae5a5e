package dev.strata.record

import dev.strata.task.TaskArgs
import dev.strata.tensor.Tensor
import dev.strata.tensor.rowMajorStrides
import dev.strata.error.GraphBindingException
import dev.strata.run.CallableAdmission
import dev.strata.run.SubmitValidation
import dev.strata.run.ReplayPlan
import dev.strata.run.ReplaySource

/**
 * Checks a replay's bindings against a [TaskGraph] and the worker, all at once and before anything is
 * dispatched, and rebinds the graph's arguments.
 */
internal class GraphReplay private constructor(
    private val graph: TaskGraph,
    /** By parameter index: the bound tensor's buffer and byte offset. */
    private val rebinding: TaskArgs.Rebinding,
    /** By index in [TaskGraph.callables]: the worker's id for the callable (-1 when no child process runs it). */
    override val callableIds: IntArray,
) : ReplaySource {
    /** The graph's layout for replay (read once: it is lazily built). */
    private val layout = graph.plan

    override val plan: ReplayPlan get() = layout.engine

    /** Node [i]'s arguments with every view of a parameter moved onto its binding (lazily: see [TaskArgs]). */
    override fun members(i: Int): Array<TaskArgs> {
        val plan = layout
        val single = plan.single[i]
        if (single != null) return arrayOf(single.rebound(plan.singleSlots[i]!!, rebinding))
        val slots = plan.groupSlots[i] ?: return plan.members[i]
        val members = plan.members[i]
        return Array(members.size) { m -> slots[m]?.let { members[m].rebound(it, rebinding) } ?: members[m] }
    }

    companion object {
        /**
         * The replay, or [GraphBindingException] listing every problem; [dev.strata.error.InvalidCallableException] when a
         * callable cannot run in a child process the graph sends it to. Both before anything is submitted.
         */
        fun of(graph: TaskGraph, bindings: Map<String, Tensor>, validation: SubmitValidation, callables: CallableAdmission): GraphReplay {
            val problems = ArrayList<String>()
            if (graph.allocations > 0) {
                problems += "it was recorded with ${graph.allocations} alloc call(s); a replay cannot re-create scope " +
                    "scratch yet: declare a parameter() for the scratch tensor and bind it"
            }
            val byName = graph.parameters.associateBy { it.name }
            for (n in bindings.keys - byName.keys) problems += "'$n' is not a parameter of the graph (its parameters are ${byName.keys})"
            val bound = HashMap<Long, Tensor>()
            for (p in graph.parameters) {
                val b = bindings[p.name]
                if (b == null) {
                    problems += "parameter '${p.name}' (${p.dtype}${p.shape.contentToString()}) is not bound"
                    continue
                }
                val shapeOk = b.shape.contentEquals(p.shape)
                if (b.dtype != p.dtype || !shapeOk) {
                    problems += "parameter '${p.name}' is ${p.dtype}${p.shape.contentToString()}, bound to ${b.dtype}${b.shape.contentToString()}"
                    continue
                }
                if (!b.strides.contentEquals(rowMajorStrides(p.shape))) problems += "parameter '${p.name}' needs a contiguous row-major tensor, bound to $b"
                val fp = b.footprint
                if (!fp.isEmpty && (fp.lo < 0 || fp.hi > b.buffer.byteSize)) problems += "parameter '${p.name}': $b leaves its buffer '${b.buffer.label}'"
                if (b.buffer.isReleased) problems += "parameter '${p.name}': buffer '${b.buffer.label}' was given back"
                bound[p.placeholder.id] = b
            }
            // Dependencies were inferred with every parameter distinct from the rest: bindings must keep it so.
            val params = graph.parameters.filter { bound.containsKey(it.placeholder.id) }
            for (i in params.indices) for (j in i + 1 until params.size) {
                val a = bound.getValue(params[i].placeholder.id)
                val b = bound.getValue(params[j].placeholder.id)
                if (a.overlaps(b)) problems += "parameters '${params[i].name}' and '${params[j].name}' are bound to overlapping bytes of '${a.buffer.label}'"
            }
            val own = graph.usages.map { it.buffer.id }.toSet()
            for (p in params) {
                val b = bound.getValue(p.placeholder.id)
                if (b.buffer.id in own) problems += "parameter '${p.name}' is bound to '${b.buffer.label}', which the graph also uses directly"
            }
            for (t in graph.targets) validation.targetProblem(t)?.let { problems += it }
            // What this worker's targets can address and write.
            for (u in graph.usages) {
                val param = graph.parameters.firstOrNull { it.placeholder.id == u.buffer.id }
                val buffer = if (param != null) bound[u.buffer.id]?.buffer ?: continue else u.buffer
                val what = param?.let { "parameter '${it.name}'" } ?: "tensor '${u.buffer.label}'"
                for (t in u.targets) validation.addressProblem(buffer, t)?.let { problems += "$what: $it" }
                if (u.writes && !buffer.access.writable) problems += "$what is written by the graph but '${buffer.label}' is ${buffer.access}"
                if (param == null && buffer.isReleased) problems += "$what: its buffer was given back"
            }
            if (problems.isNotEmpty()) throw GraphBindingException(graph.name, problems.distinct())
            // Each callable is admitted once, over every target it runs on in the graph.
            val callableIds = IntArray(graph.callables.size) { callables.admit(graph.callables[it], graph.callableTargets[it]) }
            val ps = graph.parameters
            val buffers = Array(ps.size) { bound.getValue(ps[it].placeholder.id).buffer }
            val offsets = LongArray(ps.size) { bound.getValue(ps[it].placeholder.id).byteOffset }
            return GraphReplay(graph, TaskArgs.Rebinding(buffers, offsets), callableIds)
        }
    }
}
