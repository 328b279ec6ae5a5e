package dev.strata.trace

import kotlinx.serialization.json.JsonObject
import kotlinx.serialization.json.JsonPrimitive
import kotlinx.serialization.json.doubleOrNull
import java.nio.file.Files
import java.nio.file.Path
import java.time.Instant
import java.util.concurrent.ConcurrentHashMap
import java.util.concurrent.ConcurrentLinkedQueue
import java.util.concurrent.atomic.AtomicInteger
import java.util.concurrent.atomic.AtomicLong

/**
 * When a task was submitted, became ready and was dispatched ([System.nanoTime]); kept on a task of a
 * traced run only. The builder writes [submitted]; the scheduler (or the endpoint that claimed the task)
 * writes [ready] and [dispatched] before the dispatch that runs the task, which orders them for its reader.
 */
internal class TaskTimes(@JvmField val submitted: Long) {
    @JvmField var ready: Long = 0

    @JvmField var dispatched: Long = 0

    /** Claimed by an endpoint as its successor: ready and dispatched at once. */
    fun claimed() {
        val now = System.nanoTime()
        ready = now
        dispatched = now
    }
}

/**
 * Records a timeline of one worker tree (a worker and the workers nested in it) for a trace-event file
 * ([TraceFile]): every worker is a process (`pid`), every endpoint a track (`tid`) in it. Thread-safe:
 * endpoint threads, the scheduler and the program's thread all add to it.
 *
 * Bounded: past [maxEvents] events it drops new ones and counts them; the file says how many
 * (`otherData.droppedEvents`), so a long traced job cannot exhaust the heap.
 */
internal class TraceRecorder(private val maxEvents: Int = DEFAULT_MAX_EVENTS) {
    /** Time zero of the trace ([System.nanoTime]): every worker of the tree shares this clock. */
    val originNanos: Long = System.nanoTime()
    private val originWall: Instant = Instant.now()

    private val nextPid = AtomicInteger(1)
    private val nextTid = AtomicInteger(1)
    private val processes = ConcurrentLinkedQueue<WorkerTrace>()
    private val records = ConcurrentLinkedQueue<Record>()
    private val count = AtomicInteger()
    private val dropped = AtomicLong()

    /** Events dropped because the trace was full. */
    val droppedEvents: Long get() = dropped.get()

    /** Files child JVMs write their own traces to (their nested workers: a chip's cores), by child name. */
    private val childFiles = ConcurrentLinkedQueue<Pair<String, Path>>()

    /**
     * A file for the child JVM [child] to write its own trace to when it exits (its nested workers' spans, on
     * the same monotonic clock); [snapshot] merges it into this trace and deletes it. An empty file, owner-only.
     */
    fun childFile(child: String): Path {
        val f = Files.createTempFile("strata-trace-child-", ".json")
        childFiles += child to f
        return f
    }

    /** Deletes the child files not merged yet (the trace is not written after all, or was written already). */
    fun discardChildFiles() {
        while (true) {
            val (_, f) = childFiles.poll() ?: return
            runCatching { Files.deleteIfExists(f) }
        }
    }

    /** A new process in the trace for a worker shown as [name]. */
    fun worker(name: String): WorkerTrace = WorkerTrace(this, nextPid.getAndIncrement(), name).also { processes += it }

    internal fun newTid(): Int = nextTid.getAndIncrement()

    internal fun add(r: Record) {
        if (count.incrementAndGet() > maxEvents) {
            count.decrementAndGet()
            dropped.incrementAndGet()
            return
        }
        records += r
    }

    private fun us(nanos: Long): Double = (nanos - originNanos) / 1_000.0

    /** What was recorded so far, as a trace file: names first, then the events in time order. */
    fun snapshot(): TraceFile {
        val events = ArrayList<TraceEvent>(count.get() + 16)
        for (p in processes) {
            events += TraceEvent("process_name", "M", pid = p.pid, args = JsonObject(mapOf("name" to JsonPrimitive(p.name))))
            events += TraceEvent("process_sort_index", "M", pid = p.pid, args = JsonObject(mapOf("sort_index" to JsonPrimitive(p.pid))))
            for ((track, tid) in p.tracks()) {
                events += TraceEvent("thread_name", "M", pid = p.pid, tid = tid, args = JsonObject(mapOf("name" to JsonPrimitive(track))))
                events += TraceEvent("thread_sort_index", "M", pid = p.pid, tid = tid, args = JsonObject(mapOf("sort_index" to JsonPrimitive(tid))))
            }
        }
        val timed = records.mapTo(ArrayList()) { it.toEvent() }
        val missing = ArrayList<String>()
        for ((child, f) in childFiles.toList()) {
            val merged = runCatching { if (Files.size(f) == 0L) null else TraceFile.read(f) }.getOrNull()
            if (merged == null) missing += child else merge(merged, events, timed)
        }
        timed.sortedBy { it.ts }.forEach { events += it }
        val other = buildMap {
            put("producer", "Strata")
            put("startedAt", originWall.toString())
            put(ORIGIN_NANOS, originNanos.toString())
            if (dropped.get() > 0) put("droppedEvents", dropped.get().toString())
            if (missing.isNotEmpty()) put("missingChildTraces", missing.joinToString(", "))
        }
        return TraceFile(events, otherData = other)
    }

    /**
     * Adds a child JVM's trace: its processes get pids of this trace, its times move onto this trace's zero
     * (both are `System.nanoTime` of one host: the offset is the difference of the two origins) — the
     * events' `ts` and the task times among their arguments (`submitted_us`, `ready_us`, `dispatched_us`).
     */
    private fun merge(child: TraceFile, names: MutableList<TraceEvent>, timed: MutableList<TraceEvent>) {
        val origin = child.otherData[ORIGIN_NANOS]?.toLongOrNull() ?: return
        val shift = (origin - originNanos) / 1_000.0
        val pids = HashMap<Int, Int>()
        for (e in child.traceEvents) {
            val pid = pids.getOrPut(e.pid) { nextPid.getAndIncrement() }
            if (e.ph == "M") names += e.copy(pid = pid) else timed += e.copy(pid = pid, ts = e.ts + shift, args = e.args?.let { shiftTimes(it, shift) })
        }
    }

    /** [args] with every time (a number under a key ending in `_us`; 0 means unknown and stays) moved by [shift]. */
    private fun shiftTimes(args: JsonObject, shift: Double): JsonObject {
        if (args.keys.none { it.endsWith(TIME_ARG_SUFFIX) }) return args
        return JsonObject(
            args.mapValues { (k, v) ->
                val us = if (k.endsWith(TIME_ARG_SUFFIX) && v is JsonPrimitive && !v.isString) v.doubleOrNull else null
                if (us == null || us == 0.0) v else JsonPrimitive(us + shift)
            },
        )
    }

    /** Writes [snapshot] to [path]; the child files are deleted whether or not that works. */
    fun write(path: Path) {
        try {
            snapshot().write(path)
        } finally {
            discardChildFiles()
        }
    }

    private fun Record.toEvent(): TraceEvent = when (this) {
        is Record.Span -> TraceEvent(name, "X", us(startNanos), pid, tid, cat, dur = (endNanos - startNanos).coerceAtLeast(0) / 1_000.0, args = json(args))
        is Record.Mark -> TraceEvent(name, "i", us(nanos), pid, tid, cat, s = "t", args = json(args))
        is Record.Counter -> TraceEvent(name, "C", us(nanos), pid, args = JsonObject(mapOf("value" to JsonPrimitive(value))))
        is Record.Async -> TraceEvent(name, phase, us(nanos), pid, cat = "run", id = id.toString(), args = json(args))
    }

    private fun json(args: Map<String, Any>): JsonObject? = if (args.isEmpty()) null else JsonObject(
        args.mapValues { (_, v) ->
            when (v) {
                is Number -> JsonPrimitive(v)
                is Boolean -> JsonPrimitive(v)
                else -> JsonPrimitive(v.toString())
            }
        },
    )

    /** One recorded event; converted to a [TraceEvent] only when the trace is written. */
    internal sealed class Record {
        class Span(val pid: Int, val tid: Int, val name: String, val cat: String, val startNanos: Long, val endNanos: Long, val args: Map<String, Any>) : Record()
        class Mark(val pid: Int, val tid: Int, val name: String, val cat: String, val nanos: Long, val args: Map<String, Any>) : Record()
        class Counter(val pid: Int, val name: String, val nanos: Long, val value: Long) : Record()
        class Async(val pid: Int, val id: Long, val phase: String, val name: String, val nanos: Long, val args: Map<String, Any>) : Record()
    }

    companion object {
        /** `otherData` key: the recorder's [originNanos], which lets a parent merge a child's trace. */
        const val ORIGIN_NANOS: String = "originNanos"

        /** The suffix of an event argument that is a time on the trace's clock (µs), like `dispatched_us`. */
        private const val TIME_ARG_SUFFIX = "_us"

        /** Events kept per trace before new ones are dropped (about 100 MB of heap at the most). */
        const val DEFAULT_MAX_EVENTS: Int = 1_000_000
    }
}

/**
 * One worker's part of a trace: its process and its tracks (one per endpoint, plus `scheduler`).
 * Thread-safe.
 */
internal class WorkerTrace(private val recorder: TraceRecorder, val pid: Int, val name: String) {
    private val trackIds = ConcurrentHashMap<String, Int>()
    private val lastCounter = ConcurrentHashMap<String, Long>()

    /** The trace this worker records into (a nested worker shares its parent's). */
    val trace: TraceRecorder get() = recorder

    /** The tid of the track named [track], created on first use. */
    fun track(track: String): Int = trackIds.computeIfAbsent(track) { recorder.newTid() }

    internal fun tracks(): List<Pair<String, Int>> = trackIds.entries.map { it.key to it.value }.sortedBy { it.second }

    /** A task member that ran on [track] from [startNanos] to [endNanos] ([outcome]: completed, failed). */
    fun span(track: String, name: String, outcome: String, startNanos: Long, endNanos: Long, args: Map<String, Any>) =
        recorder.add(TraceRecorder.Record.Span(pid, track(track), name, outcome, startNanos, endNanos, args))

    /** Something that happened at one moment on [track] (a skip, a refused dispatch). */
    fun mark(track: String, name: String, cat: String, nanos: Long, args: Map<String, Any>) =
        recorder.add(TraceRecorder.Record.Mark(pid, track(track), name, cat, nanos, args))

    /** Counter [name] is [value] now; recorded only when it changed. */
    fun counter(name: String, value: Long, nanos: Long = System.nanoTime()) {
        if (lastCounter.put(name, value) == value) return
        recorder.add(TraceRecorder.Record.Counter(pid, name, nanos, value))
    }

    /** Run [runId] began. */
    fun runBegan(runId: Long, nanos: Long) = recorder.add(TraceRecorder.Record.Async(pid, runId, "b", "run #$runId", nanos, emptyMap()))

    /** Run [runId] ended; [stats] go into the end event. */
    fun runEnded(runId: Long, nanos: Long, stats: Map<String, Any>) =
        recorder.add(TraceRecorder.Record.Async(pid, runId, "e", "run #$runId", nanos, stats))
}

/**
 * Tracing switched on from outside the program: the system property `strata.trace` names a file, and
 * every worker created in this JVM without its own `WorkerConfig.trace` writes its timeline there — the first worker to `FILE`, the next ones to `FILE` with `-2`, `-3`, … before
 * its extension (so none overwrites another). `./strata script --trace FILE` sets the property. (No
 * environment variable: child and node JVMs inherit the environment, and must not write traces of their own.)
 */
internal object TraceDefaults {
    /** The system property that names the default trace file. */
    const val PROPERTY: String = "strata.trace"

    /** Workers given a file so far, by the property's value. */
    private val workers = ConcurrentHashMap<String, AtomicInteger>()

    /** The trace file of the next worker created without one, or null when tracing is not switched on. */
    fun nextFile(): Path? {
        val base = System.getProperty(PROPERTY)?.takeIf { it.isNotBlank() } ?: return null
        val file = Path.of(base)
        val n = workers.computeIfAbsent(base) { AtomicInteger() }.incrementAndGet()
        if (n == 1) return file
        val name = file.fileName.toString()
        val dot = name.lastIndexOf('.').takeIf { it > 0 } ?: name.length
        return file.resolveSibling(name.substring(0, dot) + "-" + n + name.substring(dot))
    }
}
