package dev.strata.record

import dev.strata.graph.Run
import dev.strata.task.Gate
import java.util.concurrent.ConcurrentLinkedQueue

/**
 * A gate recorded in a [TaskGraph] (`gate` inside `TaskGraph.record`): each replay makes its own instance
 * ([made]), and [open] opens the right one. Called by a task of a replay (on a thread of the worker's
 * JVM), it opens that replay's instance; called from any other thread, it opens the oldest replay in
 * flight whose instance is still closed. Thread-safe.
 */
internal class RecordedGate(
    /** The graph that recorded it (for messages). */
    val graph: String,
    override val name: String,
    /** Its index among the graph's gates. */
    val index: Int,
) : Gate {
    private class Instance(val run: Run, val gate: Gate)

    /** The instances of replays in flight, in admission order (finished ones are dropped as they are met). */
    private val live = ConcurrentLinkedQueue<Instance>()

    /** Replay [run] made [gate] for this recorded gate. */
    fun made(run: Run, gate: Gate) {
        prune()
        live += Instance(run, gate)
    }

    /** True when no replay in flight has this gate closed. */
    override val isOpen: Boolean get() = live.all { it.gate.isOpen || it.run.done.isDone }

    /**
     * Opens the instance of the replay whose task calls it, else the oldest replay's closed instance;
     * nothing when every replay in flight has it open. Throws [IllegalStateException] when no replay of the
     * graph is in flight (an open that would otherwise be lost).
     */
    override fun open() {
        prune()
        val current = Run.CURRENT.get()
        val instance = (if (current != null) live.firstOrNull { it.run === current } else null)
            ?: live.firstOrNull { !it.gate.isOpen }
        if (instance != null) {
            instance.gate.open()
            return
        }
        check(live.isNotEmpty()) {
            "gate '$name' of graph '$graph' was opened while no replay of the graph is in flight; open a recorded gate " +
                "from a task of the replay, or while its run (Worker.submit(graph, …)) is not done"
        }
    }

    private fun prune() {
        live.removeIf { it.run.done.isDone }
    }

    override fun toString(): String = "Gate($name of graph '$graph', recorded)"
}
