package dev.strata.graph

/**
 * One level of scope nesting inside a run: the tasks and allocations submitted while it was the
 * innermost scope. Ending it releases the scope's reference on each (never waits, never throws a
 * task's error). Orchestrator-thread only.
 */
internal class Scope(val depth: Int) {
    private val tasks = ArrayList<Task>()

    /** Makes room for [n] more registrations at once (a replay knows its size). */
    fun reserve(n: Int) {
        tasks.ensureCapacity(tasks.size + n)
    }

    fun register(task: Task) {
        tasks += task
    }

    /** Releases every registered task's scope reference; calls [consumed] for each that hits zero. */
    fun end(consumed: (Task) -> Unit) {
        for (t in tasks) if (t.release()) consumed(t)
        tasks.clear()
    }

    companion object {
        /** Deepest nesting of user scopes inside a run (DESIGN.md §4). */
        const val MAX_DEPTH = 64

        /** Heap rings: one per scope depth, deeper scopes share the last (DESIGN.md §4). */
        const val HEAP_RINGS = 4
    }
}
