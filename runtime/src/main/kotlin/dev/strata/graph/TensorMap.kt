package dev.strata.graph

import dev.strata.task.TaskArgs
import dev.strata.tensor.Tensor

/**
 * Dependency inference for one run (DESIGN.md §3): for every buffer, the live accesses of earlier tasks
 * with their exact footprints. [infer] reports every earlier task a new task must follow:
 * read-after-write, write-after-write and write-after-read over overlapping bytes.
 *
 * An access whose footprint a newer write covers is dropped: any later access that overlaps it also
 * overlaps the newer write and so follows it, which follows the old access. Entries of consumed tasks
 * are erased ([erase]) or skipped when found. Owned by the orchestrator thread; not thread-safe.
 */
internal class TensorMap {
    /** Receives the producers found by [infer]. */
    fun interface DependencySink {
        fun dependOn(producer: Task)
    }

    private class Entry(val task: Task, val tensor: Tensor, val write: Boolean)

    private val byBuffer = HashMap<Long, ArrayList<Entry>>()

    /** Number of live entries, for tests. */
    val size: Int get() = byBuffer.values.sumOf { it.size }

    /**
     * Calls [DependencySink.dependOn] for each earlier task that [task] (with [members]' arguments) must follow, then
     * records [task]'s own accesses. A producer may be reported more than once; the caller de-duplicates.
     */
    fun infer(task: Task, members: Array<TaskArgs>, sink: DependencySink) {
        for (m in members) {
            for (i in 0 until m.tensorCount) {
                val arg = m.arg(i)
                val tag = arg.tag
                if (!tag.tracked) continue
                val entries = byBuffer[arg.tensor.buffer.id] ?: continue
                val fp = arg.tensor.footprint
                var k = 0
                while (k < entries.size) {
                    val e = entries[k]
                    if (e.task.state == TaskState.CONSUMED) { // finished and released: nothing to follow
                        entries.removeAt(k)
                        continue
                    }
                    if (e.task !== task && (tag.writes || e.write) && e.tensor.footprint.overlaps(fp)) sink.dependOn(e.task)
                    k++
                }
            }
        }
        record(task, members)
    }

    private fun record(task: Task, members: Array<TaskArgs>) {
        var keys: LongArray? = null
        var nKeys = 0
        for (m in members) {
            for (i in 0 until m.tensorCount) {
                val arg = m.arg(i)
                if (!arg.tag.tracked) continue
                val tensor = arg.tensor
                val key = tensor.buffer.id
                val entries = byBuffer.getOrPut(key) { ArrayList(4) }
                if (arg.tag.writes) {
                    val fp = tensor.footprint
                    entries.removeAll { fp.covers(it.tensor.footprint) }
                }
                entries += Entry(task, tensor, arg.tag.writes)
                if (keys == null) keys = LongArray(4)
                if (indexOf(keys, nKeys, key) < 0) {
                    if (nKeys == keys.size) keys = keys.copyOf(nKeys * 2)
                    keys[nKeys++] = key
                }
            }
        }
        task.mapKeys = if (keys == null) null else if (nKeys == keys.size) keys else keys.copyOf(nKeys)
    }

    /** Drops the entries of a consumed [task]. */
    fun erase(task: Task) {
        val keys = task.mapKeys ?: return
        for (key in keys) {
            val entries = byBuffer[key] ?: continue
            entries.removeAll { it.task === task }
            if (entries.isEmpty()) byBuffer.remove(key)
        }
    }

    private fun indexOf(keys: LongArray, n: Int, key: Long): Int {
        for (i in 0 until n) if (keys[i] == key) return i
        return -1
    }
}
