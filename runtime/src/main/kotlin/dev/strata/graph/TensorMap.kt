package dev.strata.graph

import dev.strata.task.TaskArgs
import dev.strata.tensor.Footprint

/**
 * Dependency inference for one run (DESIGN.md §3): for every buffer, the live accesses of earlier tasks
 * with their exact footprints. [infer] reports every earlier task a new task must follow:
 * read-after-write, write-after-write and write-after-read over overlapping bytes.
 *
 * An access whose footprint a newer write covers is dropped: any later access that overlaps it also
 * overlaps the newer write and so follows it, which follows the old access. Entries of consumed tasks
 * are erased ([erase]) or dropped when met.
 *
 * Per buffer, entries are indexed by the bucket of their first byte, and a query scans only the buckets
 * that can hold an entry reaching its range (entries span at most `maxSpan` bytes; the few that span
 * more than half the buffer live in a list every query scans). So tiles, rows and slices of one big
 * buffer cost a lookup proportional to their neighbours, not to every live view of the buffer.
 * Owned by the orchestrator thread; not thread-safe.
 *
 * The accesses belong to [Owner]s of type [O]: the live [Task]s of a run, or the nodes of a program being
 * recorded (package `record`), which infers its edges once with the same code.
 */
internal class TensorMap<O : TensorMap.Owner> {
    /** What the map records accesses for. */
    abstract class Owner {
        /** Its entries in the map (null when none or erased); set by [infer], cleared by [erase]. */
        var mapEntries: ArrayList<Entry>? = null

        /** True once the owner's accesses no longer order anything (a consumed task): its entries are dropped when met. */
        abstract val isConsumed: Boolean
    }

    /** Receives the producers found by [infer]. */
    fun interface DependencySink<O> {
        fun dependOn(producer: O)
    }

    /** One recorded access. [dead] once erased or superseded; removed from its list when next scanned. */
    class Entry internal constructor(val owner: Owner, val footprint: Footprint, val write: Boolean, internal val index: Any) {
        var dead = false
    }

    private class BufferIndex(byteSize: Long) {
        val shift: Int = run {
            var s = 6 // buckets of at least 64 bytes
            while ((byteSize shr s) >= MAX_BUCKETS) s++
            s
        }
        val halfSize = byteSize / 2
        val buckets = arrayOfNulls<ArrayList<Entry>>(((maxOf(byteSize, 1) - 1) shr shift).toInt() + 1)
        val wide = ArrayList<Entry>()
        var maxSpan = 0L
        var live = 0
        var deadCount = 0

        fun add(e: Entry) {
            val fp = e.footprint
            val span = fp.hi - fp.lo
            if (span > halfSize) {
                wide += e
            } else {
                val b = (fp.lo shr shift).toInt()
                (buckets[b] ?: ArrayList<Entry>(4).also { buckets[b] = it }) += e
                if (span > maxSpan) maxSpan = span
            }
            live++
        }

        fun kill(e: Entry) {
            if (e.dead) return
            e.dead = true
            live--
            deadCount++
        }

        /** Calls [action] for every live entry that may meet `[lo, hi)`; drops dead entries it passes. */
        inline fun forEachNear(lo: Long, hi: Long, action: (Entry) -> Unit) {
            scan(wide, action)
            val first = maxOf(0L, (lo - maxSpan) shr shift).toInt()
            val last = minOf(buckets.size - 1L, (hi - 1) shr shift).toInt()
            for (b in first..last) buckets[b]?.let { scan(it, action) }
        }

        inline fun scan(list: ArrayList<Entry>, action: (Entry) -> Unit) {
            var w = 0
            for (r in 0 until list.size) {
                val e = list[r]
                if (e.dead) { // killed earlier: now physically gone
                    deadCount--
                    continue
                }
                if (e.owner.isConsumed) { // consumed, not yet erased: drop it now
                    e.dead = true
                    live--
                    continue
                }
                if (w != r) list[w] = e
                w++
                action(e)
            }
            while (list.size > w) list.removeAt(list.size - 1)
        }

        /** Physically drops every dead entry (memory hygiene for regions no query visits again). */
        fun compact() {
            wide.removeAll { it.dead }
            for (l in buckets) l?.removeAll { it.dead }
            deadCount = 0
        }
    }

    private val byBuffer = HashMap<Long, BufferIndex>()

    /** Number of live entries, for tests. */
    val size: Int get() = byBuffer.values.sumOf { it.live }

    /**
     * Calls [DependencySink.dependOn] for each earlier task that [task] (with [members]' arguments) must
     * follow, then records [task]'s own accesses. A producer may be reported more than once; the caller
     * de-duplicates.
     */
    fun infer(task: O, members: Array<TaskArgs>, sink: DependencySink<O>) {
        for (m in members) {
            for (i in 0 until m.tensorCount) {
                val arg = m.arg(i)
                val tag = arg.tag
                if (!tag.tracked) continue
                val fp = arg.tensor.footprint
                if (fp.isEmpty) continue
                val index = byBuffer[arg.tensor.buffer.id] ?: continue
                val writes = tag.writes
                index.forEachNear(fp.lo, fp.hi) { e ->
                    @Suppress("UNCHECKED_CAST") // every entry of this map was recorded for an O
                    if (e.owner !== task && (writes || e.write) && e.footprint.overlaps(fp)) sink.dependOn(e.owner as O)
                }
            }
        }
        record(task, members)
    }

    private fun record(task: O, members: Array<TaskArgs>) {
        var mine: ArrayList<Entry>? = null
        for (m in members) {
            for (i in 0 until m.tensorCount) {
                val arg = m.arg(i)
                if (!arg.tag.tracked) continue
                val tensor = arg.tensor
                val fp = tensor.footprint
                if (fp.isEmpty) continue
                val buffer = tensor.buffer
                val index = byBuffer.getOrPut(buffer.id) { BufferIndex(buffer.byteSize) }
                if (arg.tag.writes) {
                    index.forEachNear(fp.lo, fp.hi) { e -> if (fp.covers(e.footprint)) index.kill(e) }
                }
                val e = Entry(task, fp, arg.tag.writes, index)
                index.add(e)
                (mine ?: ArrayList<Entry>(2).also { mine = it }).add(e)
            }
        }
        task.mapEntries = mine
    }

    /** Drops the entries of a consumed [task]. */
    fun erase(task: O) {
        val entries = task.mapEntries ?: return
        task.mapEntries = null
        for (e in entries) {
            val index = e.index as BufferIndex
            index.kill(e)
            if (index.deadCount > 2 * index.live + 256) index.compact()
        }
    }

    private companion object {
        const val MAX_BUCKETS = 1024
    }
}
