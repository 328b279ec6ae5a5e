package dev.strata.run

import arrow.core.Either
import arrow.core.NonEmptyList
import arrow.core.raise.accumulate
import arrow.core.raise.either
import dev.strata.task.TaskArgs
import dev.strata.task.Target
import dev.strata.tensor.AddressSpace

/**
 * Checks a submit before anything is dispatched and reports every problem at once: unknown targets,
 * malformed groups, views that leave their buffer, writes through read-only buffers, buffers whose
 * scope ended, memory the target cannot address, and overlapping writes inside one task or group.
 */
internal class SubmitValidation(private val subWorkers: Int, private val nextWorkers: Int) {

    fun validate(targets: Array<Target>, members: Array<TaskArgs>): Either<NonEmptyList<SubmitProblem>, Unit> =
        either {
            accumulate {
                ensureOrAccumulate(members.isNotEmpty()) { SubmitProblem.EmptyGroup() }
                val group = members.size > 1
                val allSub = targets.all { it is Target.Sub }
                val allNext = targets.all { it is Target.Next }
                ensureOrAccumulate(!group || allSub || allNext) {
                    SubmitProblem.GroupShape("a group's members must all go to sub workers or all to next-level children, not both")
                }
                ensureOrAccumulate(!group || !allSub || members.size <= subWorkers) {
                    SubmitProblem.GroupShape(
                        "a group of ${members.size} sub members needs ${members.size} sub workers; this worker has $subWorkers " +
                            "(raise subWorkers or split the group)",
                    )
                }
                val nextIdx = targets.mapNotNull { (it as? Target.Next)?.index }
                ensureOrAccumulate(!group || nextIdx.size == nextIdx.toSet().size) {
                    SubmitProblem.GroupShape("a group's next-level targets must be distinct, got $nextIdx")
                }
                for (t in targets.distinct()) {
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
                    for (i in 0 until args.tensorCount) {
                        val arg = args.arg(i)
                        val tensor = arg.tensor
                        val buffer = tensor.buffer
                        val negative = (0 until tensor.rank).any { tensor.size(it) < 0 }
                        ensureOrAccumulate(!negative) { SubmitProblem.NegativeShape(mi, i, tensor) }
                        if (!negative) {
                            val fp = tensor.footprint
                            ensureOrAccumulate(fp.isEmpty || (fp.lo >= 0 && fp.hi <= buffer.byteSize)) {
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
                    }
                }
                // Writes of one task (or of the members of a group, which run at once) must not overlap.
                val writes = ArrayList<Triple<Int, Int, dev.strata.tensor.Tensor>>()
                for (m in members.indices) {
                    val args = members[m]
                    for (i in 0 until args.tensorCount) {
                        val arg = args.arg(i)
                        if (arg.tag.writes && (0 until arg.tensor.rank).none { arg.tensor.size(it) < 0 }) {
                            writes += Triple(if (group) m else -1, i, arg.tensor)
                        }
                    }
                }
                for (a in writes.indices) for (b in a + 1 until writes.size) {
                    val (ma, ia, ta) = writes[a]
                    val (mb, ib, tb) = writes[b]
                    ensureOrAccumulate(!ta.overlaps(tb)) { SubmitProblem.OverlappingWrites(ma to ia, mb to ib) }
                }
            }
        }
}
