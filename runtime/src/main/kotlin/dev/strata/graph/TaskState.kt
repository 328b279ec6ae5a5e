package dev.strata.graph

/**
 * Lifecycle of a task slot (DESIGN.md §4):
 * `BUILDING → PENDING → READY → RUNNING → COMPLETED | FAILED → CONSUMED`, plus `SKIPPED` for a task
 * that never ran because its run failed or was cancelled before it was dispatched.
 */
public enum class TaskState {
    /** Being submitted: arguments validated, dependencies being attached. */
    BUILDING,

    /** Published, waiting for producers. */
    PENDING,

    /** Every producer finished; queued for a worker. */
    READY,

    /** Dispatched to a worker (every member, for a group). */
    RUNNING,

    /** Ran to completion (every member, for a group). */
    COMPLETED,

    /** Ran and failed (at least one member, for a group). */
    FAILED,

    /** Never ran: a producer failed, or its run failed or was cancelled first. */
    SKIPPED,

    /** Terminal and released by its scope, its consumers and itself: slot and bytes reclaimed. */
    CONSUMED;

    /** True for states a task never leaves except to be consumed. */
    public val isTerminal: Boolean get() = this == COMPLETED || this == FAILED || this == SKIPPED || this == CONSUMED
}

/** State of one member of a group task. */
public enum class MemberState { NOT_DISPATCHED, RUNNING, SUCCEEDED, FAILED, SKIPPED }
