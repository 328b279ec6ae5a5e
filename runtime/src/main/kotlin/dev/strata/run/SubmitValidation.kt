package dev.strata.run

import arrow.core.Either
import arrow.core.NonEmptyList
import arrow.core.raise.accumulate
import arrow.core.raise.either
import dev.strata.task.TaskArgs
import dev.strata.task.Target
import dev.strata.tensor.AddressSpace
import dev.strata.tensor.Buffer
import dev.strata.tensor.Tensor
import dev.strata.error.SubmitProblem

/**
 * Checks a submit before anything is dispatched and reports every problem at once: unknown targets,
 * malformed groups, views that leave their buffer, writes through read-only buffers, buffers whose
 * scope ended, memory the target cannot address, and overlapping writes inside one task or group.
 */
internal class SubmitValidation(
    private val subWorkers: Int,
    private val nextWorkers: Int,
    /** Sub workers are child processes: tensors must be in shared memory. */
    private val subsInProcesses: Boolean = false,
    /** Which next-level children are child processes. */
    private val nextInProcess: BooleanArray = BooleanArray(nextWorkers),
    /** A recording: scalar parameters are what it records (a run refuses them). */
    private val recording: Boolean = false,
) {
    private fun inProcess(t: Target): Boolean = when (t) {
        Target.Sub -> subsInProcesses
        is Target.Next -> nextInProcess.getOrElse(t.index) { false }
    }


    /** Why [target] cannot be used here, or null. */
    fun targetProblem(target: Target): String? = when (target) {
        Target.Sub -> if (subWorkers > 0) null else "target sub does not exist on this worker (it has no sub workers)"
        is Target.Next -> if (target.index in 0 until nextWorkers) null else "target $target does not exist on this worker (next-level children are 0 until $nextWorkers)"
    }

    /** Why [target] cannot address [buffer] (device memory of another worker, private memory for a child process), or null. */
    fun addressProblem(buffer: Buffer, target: Target): String? {
        val space = buffer.addressSpace
        if (space is AddressSpace.Device && !(target is Target.Next && target.index == space.worker)) {
            return "buffer '${buffer.label}' lives in $space, which $target cannot address"
        }
        if (space is AddressSpace.Host && !buffer.isShared && inProcess(target)) {
            return "buffer '${buffer.label}' is private host memory, which $target, a child process, cannot see; use worker.hostTensor()"
        }
        return null
    }

    /**
     * Every problem of the submit, or `Right(Unit)`. A valid single task is recognised by an
     * allocation-free pass over the same rules; anything else goes through the accumulating checks, which
     * alone build the report.
     */
    fun validate(targets: Array<Target>, members: Array<TaskArgs>): Either<NonEmptyList<SubmitProblem>, Unit> =
        if (isPlainlyValid(targets, members)) VALID else report(targets, members)

    private fun isPlainlyValid(targets: Array<Target>, members: Array<TaskArgs>): Boolean {
        if (members.size != 1) return false
        val target = targets[0]
        when (target) {
            Target.Sub -> if (subWorkers <= 0) return false
            is Target.Next -> if (target.index !in 0 until nextWorkers) return false
        }
        val args = members[0]
        if (args.scalarParameters != null && !recording) return false
        for (i in 0 until args.tensorCount) {
            val arg = args.arg(i)
            val tensor = arg.tensor
            val buffer = tensor.buffer
            if (hasNegativeSize(tensor)) return false
            val fp = tensor.footprint
            if (!fp.isEmpty && (fp.lo < 0 || fp.hi > buffer.byteSize)) return false
            if (arg.tag.writes && !buffer.access.writable) return false
            if (buffer.isReleased) return false
            val space = buffer.addressSpace
            if (space is AddressSpace.Device && !(target is Target.Next && target.index == space.worker)) return false
            if (space is AddressSpace.Host && !buffer.isShared && inProcess(target)) return false
            if (arg.tag.writes) {
                for (j in 0 until i) {
                    val other = args.arg(j)
                    if (other.tag.writes && other.tensor.overlaps(tensor)) return false
                }
            }
        }
        return true
    }

    private fun report(targets: Array<Target>, members: Array<TaskArgs>): Either<NonEmptyList<SubmitProblem>, Unit> =
        either {
            accumulate {
                ensureOrAccumulate(members.isNotEmpty()) { SubmitProblem.EmptyGroup() }
                val group = members.size > 1
                if (group) {
                    val allSub = targets.all { it is Target.Sub }
                    val allNext = targets.all { it is Target.Next }
                    ensureOrAccumulate(allSub || allNext) {
                        SubmitProblem.GroupShape("a group's members must all go to sub workers or all to next-level children, not both")
                    }
                    ensureOrAccumulate(!allSub || members.size <= subWorkers) {
                        SubmitProblem.GroupShape(
                            "a group of ${members.size} sub members needs ${members.size} sub workers; this worker has $subWorkers " +
                                "(raise subWorkers or split the group)",
                        )
                    }
                    val nextIdx = targets.mapNotNull { (it as? Target.Next)?.index }
                    ensureOrAccumulate(nextIdx.size == nextIdx.toSet().size) {
                        SubmitProblem.GroupShape("a group's next-level targets must be distinct, got $nextIdx")
                    }
                }
                for (k in targets.indices) {
                    val t = targets[k]
                    if (k > 0 && targets.indexOf(t) < k) continue // report each target once
                    when (t) {
                        Target.Sub -> ensureOrAccumulate(subWorkers > 0) {
                            SubmitProblem.UnknownTarget(t, "it has no sub workers; configure subWorkers > 0")
                        }
                        is Target.Next -> ensureOrAccumulate(t.index in 0 until nextWorkers) {
                            SubmitProblem.UnknownTarget(t, "next-level children are 0 until $nextWorkers")
                        }
                    }
                }
                for (m in members.indices) {
                    val args = members[m]
                    val mi = if (group) m else -1
                    if (!recording) args.scalarParameters?.forEachIndexed { i, p ->
                        ensureOrAccumulate(p == null) { SubmitProblem.UnboundScalarParameter(mi, i, p!!.name) }
                    }
                    for (i in 0 until args.tensorCount) {
                        val arg = args.arg(i)
                        val tensor = arg.tensor
                        val buffer = tensor.buffer
                        val negative = hasNegativeSize(tensor)
                        ensureOrAccumulate(!negative) { SubmitProblem.NegativeShape(mi, i, tensor) }
                        if (!negative) {
                            val fp = tensor.footprint
                            ensureOrAccumulate(!fp.overflows) { SubmitProblem.ViewOverflows(mi, i, tensor) }
                            ensureOrAccumulate(fp.overflows || fp.isEmpty || (fp.lo >= 0 && fp.hi <= buffer.byteSize)) {
                                SubmitProblem.ViewOutOfBounds(mi, i, tensor)
                            }
                        }
                        ensureOrAccumulate(!arg.tag.writes || buffer.access.writable) {
                            SubmitProblem.AccessDenied(mi, i, arg.tag, tensor)
                        }
                        ensureOrAccumulate(!buffer.isReleased) { SubmitProblem.ReleasedBuffer(mi, i, tensor) }
                        val space = buffer.addressSpace
                        val target = targets[m]
                        ensureOrAccumulate(space !is AddressSpace.Device || (target is Target.Next && target.index == space.worker)) {
                            SubmitProblem.Unaddressable(mi, i, tensor, target)
                        }
                        ensureOrAccumulate(space !is AddressSpace.Host || buffer.isShared || !inProcess(target)) {
                            SubmitProblem.NotShared(mi, i, tensor, target)
                        }
                    }
                }
                // Writes of one task (or of the members of a group, which run at once) must not overlap.
                forEachWritePair(members) { ma, ia, ta, mb, ib, tb ->
                    val g = members.size > 1
                    ensureOrAccumulate(!ta.overlaps(tb)) {
                        SubmitProblem.OverlappingWrites((if (g) ma else -1) to ia, (if (g) mb else -1) to ib)
                    }
                }
            }
        }

    private companion object {
        val VALID: Either<NonEmptyList<SubmitProblem>, Unit> = Either.Right(Unit)
    }

    private fun hasNegativeSize(t: Tensor): Boolean {
        for (d in 0 until t.rank) if (t.size(d) < 0) return true
        return false
    }

    /** Calls [action] for each pair of well-formed write arguments, in order, without allocating. */
    private inline fun forEachWritePair(
        members: Array<TaskArgs>,
        action: (Int, Int, Tensor, Int, Int, Tensor) -> Unit,
    ) {
        for (ma in members.indices) {
            val a = members[ma]
            for (ia in 0 until a.tensorCount) {
                val argA = a.arg(ia)
                if (!argA.tag.writes || hasNegativeSize(argA.tensor)) continue
                for (mb in ma until members.size) {
                    val b = members[mb]
                    for (ib in (if (mb == ma) ia + 1 else 0) until b.tensorCount) {
                        val argB = b.arg(ib)
                        if (!argB.tag.writes || hasNegativeSize(argB.tensor)) continue
                        action(ma, ia, argA.tensor, mb, ib, argB.tensor)
                    }
                }
            }
        }
    }
}
