package dev.strata.error

import dev.strata.task.Target
import dev.strata.tensor.Tag
import dev.strata.tensor.Tensor

/** One reason a submit was rejected. [message] names the argument, buffer or target at fault. */
public sealed class SubmitProblem(public val message: String) {
    override fun toString(): String = message

    public class ViewOutOfBounds(public val member: Int, public val argIndex: Int, public val tensor: Tensor) : SubmitProblem(
        "${where(member, argIndex)} $tensor touches bytes [${tensor.footprintLo()}, ${tensor.footprintHi()}) outside " +
            "its buffer '${tensor.buffer.label}' of ${tensor.buffer.byteSize} B; fix the offset, shape or strides",
    )

    public class ViewOverflows(public val member: Int, public val argIndex: Int, public val tensor: Tensor) : SubmitProblem(
        "${where(member, argIndex)} $tensor spans more bytes than a 64-bit offset can address (its offset, shape and " +
            "strides overflow); no buffer can hold it, so fix the shape or strides",
    )

    public class NegativeShape(public val member: Int, public val argIndex: Int, public val tensor: Tensor) : SubmitProblem(
        "${where(member, argIndex)} $tensor has a negative size or stride; views need sizes and strides >= 0",
    )

    public class OverlappingWrites(
        public val first: Pair<Int, Int>,
        public val second: Pair<Int, Int>,
    ) : SubmitProblem(
        "${where(first.first, first.second)} and ${where(second.first, second.second)} write overlapping bytes " +
            "in one task; a task (or the members of a group) may write each byte through one argument only",
    )

    public class AccessDenied(public val member: Int, public val argIndex: Int, public val tag: Tag, public val tensor: Tensor) :
        SubmitProblem(
            "${where(member, argIndex)} is tagged $tag but buffer '${tensor.buffer.label}' is ${tensor.buffer.access}; " +
                "use INPUT or a writable buffer",
        )

    public class ReleasedBuffer(public val member: Int, public val argIndex: Int, public val tensor: Tensor) : SubmitProblem(
        "${where(member, argIndex)} uses buffer '${tensor.buffer.label}', whose scope has ended and whose bytes were " +
            "given back; allocate it in a scope that encloses every task that uses it",
    )

    public class Unaddressable(public val member: Int, public val argIndex: Int, public val tensor: Tensor, public val target: Target) :
        SubmitProblem(
            "${where(member, argIndex)} lives in ${tensor.buffer.addressSpace}, which $target cannot address; " +
                "copy it to host memory or submit to the worker that owns it",
        )

    public class NotShared(public val member: Int, public val argIndex: Int, public val tensor: Tensor, public val target: Target) :
        SubmitProblem(
            "${where(member, argIndex)} is in private host memory (buffer '${tensor.buffer.label}'), which $target, a " +
                "child process, cannot see; create it with worker.hostTensor() or alloc(), which give shared memory on " +
                "workers with process children",
        )

    public class UnknownTarget(public val target: Target, public val available: String) :
        SubmitProblem("target $target does not exist on this worker ($available)")

    public class UnboundScalarParameter(public val member: Int, public val scalarIndex: Int, public val name: String) : SubmitProblem(
        "${if (member < 0) "scalar" else "member $member scalar"} $scalarIndex is the graph's scalar parameter '$name', which only a " +
            "replay of that graph binds; pass a value in a run (TaskArgs.Builder.scalar(Long))",
    )

    public class EmptyGroup : SubmitProblem("a group needs at least one member")

    public class GroupShape(detail: String) : SubmitProblem(detail)

    internal companion object {
        fun where(member: Int, argIndex: Int): String =
            if (member < 0) "argument $argIndex" else "member $member argument $argIndex"

        private fun Tensor.footprintLo(): Long = footprint.lo
        private fun Tensor.footprintHi(): Long = footprint.hi
    }
}
