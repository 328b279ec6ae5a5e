package dev.strata.trace

import kotlinx.serialization.Serializable
import kotlinx.serialization.json.Json
import kotlinx.serialization.json.JsonObject
import kotlinx.serialization.json.JsonPrimitive
import kotlinx.serialization.json.decodeFromStream
import kotlinx.serialization.json.encodeToStream
import java.nio.file.Files
import java.nio.file.Path
import java.nio.file.StandardCopyOption

/**
 * One event of a trace in the Chrome trace-event format (the JSON that Perfetto, `chrome://tracing` and
 * Speedscope load). Times are microseconds since the trace began.
 *
 * What Strata writes:
 * - `ph = "X"`: a task (one member of it) on the track of the worker that ran it, with `dur`; `cat` is its
 *   outcome (`completed`, `failed`); `args` hold the run and task ids, the callable, an arguments summary
 *   and when it was submitted, became ready and was dispatched (`submitted_us`, `ready_us`, `dispatched_us`);
 * - `ph = "i"`: an instant on a worker's `scheduler` track: a task skipped, a dispatch refused;
 * - `ph = "b"` / `"e"` (`cat = "run"`, `id` = the run id): a run from admission to its end, with its
 *   statistics (tasks by final state, back-pressure time) in the end event's `args`;
 * - `ph = "C"`: counters (`ready tasks`, `task window`, `heap ring bytes`);
 * - `ph = "M"`: the names of processes (`pid`: one per worker) and threads (`tid`: one per track).
 */
@Serializable
public data class TraceEvent(
    val name: String,
    val ph: String,
    val ts: Double = 0.0,
    val pid: Int,
    val tid: Int = 0,
    val cat: String? = null,
    val dur: Double? = null,
    val id: String? = null,
    /** Scope of an instant event: `t` (thread), `p` (process), `g` (global). */
    val s: String? = null,
    val args: JsonObject? = null,
)

/**
 * A trace file: the JSON object form of the trace-event format (`traceEvents` plus metadata). Written by a
 * worker configured with `WorkerConfig.trace` when it closes; read back with [read].
 */
@Serializable
public data class TraceFile(
    val traceEvents: List<TraceEvent>,
    val displayTimeUnit: String = "ms",
    /** Free-form facts about the recording: the Strata version, when it began, events dropped (if any). */
    val otherData: Map<String, String> = emptyMap(),
) {
    /** The process names (metadata events), by pid. */
    public val processNames: Map<Int, String>
        get() = traceEvents.filter { it.ph == "M" && it.name == "process_name" }.associate { it.pid to it.nameArg() }

    /** The track (thread) names (metadata events), by (pid, tid). */
    public val trackNames: Map<Pair<Int, Int>, String>
        get() = traceEvents.filter { it.ph == "M" && it.name == "thread_name" }.associate { (it.pid to it.tid) to it.nameArg() }

    /**
     * What breaks the trace-event format's rules in this file, one line each (empty when it is valid): known
     * phases only, non-negative times, `dur` on complete events, an `id` on async events, begin/end pairs
     * that match, complete events on one track that nest rather than overlap, and every pid and track named.
     */
    public fun problems(): List<String> {
        val out = ArrayList<String>()
        val open = HashMap<Pair<Int, String>, Int>()
        for ((i, e) in traceEvents.withIndex()) {
            if (e.ph !in PHASES) out += "event $i '${e.name}': unknown phase '${e.ph}'"
            if (e.ts < 0) out += "event $i '${e.name}': negative ts ${e.ts}"
            when (e.ph) {
                "X" -> if (e.dur == null || e.dur < 0) out += "event $i '${e.name}': complete event without a non-negative dur"
                "b", "e" -> {
                    if (e.id == null) out += "event $i '${e.name}': async event without an id"
                    val key = e.pid to (e.id ?: "")
                    open[key] = (open[key] ?: 0) + if (e.ph == "b") 1 else -1
                    if (open[key]!! < 0) out += "event $i '${e.name}': async end before its begin (id ${e.id})"
                }
                "i" -> if (e.s != null && e.s !in setOf("t", "p", "g")) out += "event $i '${e.name}': instant scope '${e.s}'"
            }
        }
        open.filterValues { it != 0 }.forEach { (k, v) -> out += "async id ${k.second} in pid ${k.first}: $v begin(s) without an end" }
        // Complete events of one track must nest (a viewer draws them as a stack): no partial overlaps.
        traceEvents.filter { it.ph == "X" && it.dur != null }.groupBy { it.pid to it.tid }.forEach { (track, spans) ->
            val sorted = spans.sortedWith(compareBy<TraceEvent> { it.ts }.thenByDescending { it.dur })
            val stack = ArrayDeque<Double>()
            for (s in sorted) {
                while (stack.isNotEmpty() && stack.last() <= s.ts) stack.removeLast()
                val end = s.ts + s.dur!!
                if (stack.isNotEmpty() && end > stack.last() + EPSILON_US) out += "track $track: '${s.name}' at ${s.ts} µs overlaps the span before it"
                stack.addLast(end)
            }
        }
        val pids = processNames.keys
        val tracks = trackNames.keys
        traceEvents.filter { it.ph != "M" }.map { it.pid }.distinct().filter { it !in pids }.forEach { out += "pid $it has no process_name" }
        traceEvents.filter { it.ph == "X" || (it.ph == "i" && it.s == "t") }.map { it.pid to it.tid }.distinct()
            .filter { it !in tracks }.forEach { out += "track $it has no thread_name" }
        return out
    }

    /** The `name` argument of a metadata event, as text (empty when it has none). */
    private fun TraceEvent.nameArg(): String = (args?.get("name") as? JsonPrimitive)?.content ?: ""

    /** Writes this trace to [path] (through a temporary file beside it, so a reader never sees half a file). */
    public fun write(path: Path) {
        val dir = path.toAbsolutePath().parent
        if (dir != null) Files.createDirectories(dir)
        val tmp = Files.createTempFile(dir ?: Path.of("."), path.fileName.toString(), ".tmp")
        try {
            Files.newOutputStream(tmp).buffered().use { JSON.encodeToStream(serializer(), this, it) }
            Files.move(tmp, path, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE)
        } finally {
            Files.deleteIfExists(tmp)
        }
    }

    public companion object {
        private val PHASES = setOf("X", "B", "E", "i", "I", "b", "e", "n", "C", "M", "s", "t", "f")
        private const val EPSILON_US = 0.001
        internal val JSON = Json { explicitNulls = false; encodeDefaults = true; ignoreUnknownKeys = true }

        /** Reads a trace file written by Strata (or any trace-event JSON object file). */
        public fun read(path: Path): TraceFile = Files.newInputStream(path).buffered().use { JSON.decodeFromStream(serializer(), it) }

        /** Parses trace-event JSON text (the object form). */
        public fun parse(text: String): TraceFile = JSON.decodeFromString(serializer(), text)
    }
}
