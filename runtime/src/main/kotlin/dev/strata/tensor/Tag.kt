package dev.strata.tensor

/**
 * How a task uses a tensor argument; the engine infers dependencies from it (DESIGN.md §3).
 *
 * Every tag except [NO_DEP] is tracked: a task that reads bytes waits for the earlier writers of those
 * bytes (read-after-write); a task that writes bytes waits for the earlier writers (write-after-write)
 * **and** the earlier readers (write-after-read) of those bytes. The result is that tasks run as if one
 * by one in submission order.
 */
public enum class Tag(
    /** The task reads the tensor's bytes. */
    public val reads: Boolean,
    /** The task writes the tensor's bytes. */
    public val writes: Boolean,
) {
    /** Read only. */
    INPUT(reads = true, writes = false),

    /** Written with new contents; the task does not read the old contents. */
    OUTPUT(reads = false, writes = true),

    /** Read, then written. */
    INOUT(reads = true, writes = true),

    /** Written into a caller-owned buffer that outlives the run (e.g. a result the caller reads back). */
    OUTPUT_EXISTING(reads = false, writes = true),

    /**
     * Not tracked: the engine adds no dependency for this argument. The caller guarantees ordering some
     * other way (a scope, a run boundary, or a tracked argument on the same task).
     */
    NO_DEP(reads = false, writes = false);

    /** Whether the engine tracks this argument for dependency inference. */
    public val tracked: Boolean get() = this != NO_DEP
}
