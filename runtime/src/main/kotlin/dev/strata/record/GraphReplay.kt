package dev.strata.record

import dev.strata.task.TaskArgs
import dev.strata.tensor.Tensor
import dev.strata.tensor.rowMajorStrides
import dev.strata.error.GraphBindingException
import dev.strata.run.CallableAdmission
import dev.strata.run.SubmitValidation
import dev.strata.run.ReplayPlan
import dev.strata.run.ReplaySource
import dev.strata.graph.Run
import dev.strata.task.Gate
import dev.strata.tensor.Buffer

/**
 * Checks a replay's bindings against a [TaskGraph] and the worker, all at once and before anything is
 * dispatched, and rebinds the graph's arguments.
 */
internal class GraphReplay private constructor(
    private val graph: TaskGraph,
    /** By parameter index: the bound tensor's buffer and byte offset (scratch: set by [bindScratch]). */
    private val rebinding: TaskArgs.Rebinding,
    /** By index in [TaskGraph.callables]: the worker's id for the callable (-1 when no child process runs it). */
    override val callableIds: IntArray,
    /** By scalar parameter index: the bound value. */
    private val scalars: LongArray,
) : ReplaySource {
    /** The graph's layout for replay (read once: it is lazily built). */
    private val layout = graph.plan

    override val plan: ReplayPlan get() = layout.engine

    /** Node [i]'s arguments with every view of a parameter moved onto its binding (lazily: see [TaskArgs]). */
    override fun members(i: Int): Array<TaskArgs> {
        val tensors = tensorsBound(i)
        val scalarSlots = layout.scalarSlots[i] ?: return tensors
        val recorded = layout.members[i]
        return Array(tensors.size) { m -> scalarSlots[m]?.let { recorded[m].withScalars(tensors[m], it, scalars) } ?: tensors[m] }
    }

    /** Node [i]'s members with every view of a tensor parameter moved onto its binding. */
    private fun tensorsBound(i: Int): Array<TaskArgs> {
        val plan = layout
        val single = plan.single[i]
        if (single != null) return arrayOf(single.rebound(plan.singleSlots[i]!!, rebinding))
        val slots = plan.groupSlots[i] ?: return plan.members[i]
        val members = plan.members[i]
        return Array(members.size) { m -> slots[m]?.let { members[m].rebound(it, rebinding) } ?: members[m] }
    }

    override fun bindScratch(k: Int, buffer: Buffer) {
        rebinding.buffers[layout.scratchParams[k]] = buffer
    }

    override fun gatesMade(run: Run, gates: Array<out Gate>) {
        for ((g, gate) in gates.withIndex()) graph.gates[g].made(run, gate)
    }

    companion object {
        /**
         * The replay, or [GraphBindingException] listing every problem; [dev.strata.error.InvalidCallableException] when a
         * callable cannot run in a child process the graph sends it to. Both before anything is submitted.
         */
        fun of(
            graph: TaskGraph,
            bindings: Map<String, Tensor>,
            scalarBindings: Map<String, Long>,
            validation: SubmitValidation,
            callables: CallableAdmission,
        ): GraphReplay {
            val problems = ArrayList<String>()
            val tensorParams = graph.parameters.filter { !it.scratch }
            val byName = tensorParams.associateBy { it.name }
            for (n in bindings.keys - byName.keys) {
                problems += if (n in graph.scalarParameters) "'$n' is a scalar parameter of the graph: bind it among the scalars, not the tensors"
                else "'$n' is not a parameter of the graph (its tensor parameters are ${byName.keys})"
            }
            for (n in scalarBindings.keys - graph.scalarParameters.toSet()) {
                problems += if (n in byName) "'$n' is a tensor parameter of the graph: bind it among the tensors, not the scalars"
                else "'$n' is not a scalar parameter of the graph (its scalar parameters are ${graph.scalarParameters})"
            }
            for (n in graph.scalarParameters) if (n !in scalarBindings) problems += "scalar parameter '$n' is not bound"
            val bound = HashMap<Long, Tensor>()
            for (p in tensorParams) {
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
                if (param != null && param.scratch) continue // the heap ring's: what every target of the worker can address
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
            val buffers = Array(ps.size) { if (ps[it].scratch) ps[it].placeholder else bound.getValue(ps[it].placeholder.id).buffer }
            val offsets = LongArray(ps.size) { if (ps[it].scratch) 0L else bound.getValue(ps[it].placeholder.id).byteOffset }
            val scalars = LongArray(graph.scalarParameters.size) { scalarBindings.getValue(graph.scalarParameters[it]) }
            return GraphReplay(graph, TaskArgs.Rebinding(buffers, offsets), callableIds, scalars)
        }
    }
}
