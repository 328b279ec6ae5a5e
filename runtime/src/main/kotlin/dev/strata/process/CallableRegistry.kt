package dev.strata.process

import dev.strata.task.TaskCallable
import java.util.concurrent.ConcurrentHashMap
import java.util.concurrent.CopyOnWriteArrayList

/** The callables of one worker's process children: stable name ↔ small integer id (the mailbox's callable id). */
internal class CallableRegistry {
    private val ids = ConcurrentHashMap<String, Int>()
    private val byId = CopyOnWriteArrayList<String>()

    /** The id of [c]'s stable name, registering it on first use; throws [InvalidCallableException] if it has none. */
    fun idFor(c: TaskCallable): Int {
        val name = CallableNames.stableName(c)
        ids[name]?.let { return it }
        synchronized(this) {
            ids[name]?.let { return it }
            byId += name
            return (byId.size - 1).also { ids[name] = it }
        }
    }

    fun nameOf(id: Int): String = byId[id]

    /** Every registered callable, by id. */
    fun snapshot(): List<Pair<Int, String>> = byId.mapIndexed { i, n -> i to n }
}
