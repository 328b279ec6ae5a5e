package dev.strata.task

/** Where a task runs. */
public sealed interface Target {
    /** Any idle host sub worker of the pool (sub workers are interchangeable). */
    public data object Sub : Target {
        override fun toString(): String = "sub"
    }

    /** The next-level child with index [index] (a chip of a level-3 worker, a node of a level-4 one). */
    public data class Next(val index: Int) : Target {
        override fun toString(): String = "next#$index"
    }
}
