package dev.strata.process

import kotlinx.serialization.Serializable
import kotlinx.serialization.json.Json
import kotlinx.serialization.json.JsonElement
import java.util.Base64
import dev.strata.chip.ChipConfig

/** What a child JVM is told at launch (DESIGN.md §8): who it is, where its mailbox is, what to load. */
@Serializable
internal data class ChildSpec(
    /** Its path in errors, e.g. `L4 node#1`. */
    val path: String,
    /** `sub` or `next`. */
    val kind: String,
    val level: Int,
    val parentPid: Long,
    val mailbox: String,
    val doorbell: String,
    val spinNanos: Long,
    /** Callables to load before reporting ready, with the ids the parent will dispatch them by. */
    val callables: List<CallableEntry>,
    /** For a next-level child that is a whole worker: the worker it runs. */
    /** The nested worker's own spec (a next-level child that is a whole worker), encoded by the worker package: opaque here. */
    val worker: JsonElement? = null,
    /** For a chip: which chip and its configuration. */
    val chip: ChipChildSpec? = null,
    /** Pids whose shared-memory segments the child may map ([SegmentTrust]): its parent and the parent's ancestors. */
    val segmentOwners: List<Long> = emptyList(),
    /** Where the child writes its own trace when it exits (its nested workers: a chip's cores), when the parent traces. */
    val trace: String? = null,
) {
    fun encode(): String = Base64.getUrlEncoder().withoutPadding().encodeToString(JSON.encodeToString(serializer(), this).toByteArray())

    companion object {
        private val JSON = Json { encodeDefaults = true }
        fun decode(s: String): ChildSpec = JSON.decodeFromString(serializer(), String(Base64.getUrlDecoder().decode(s)))
    }
}

/** A chip child: its index among the parent's next-level children and its configuration (its domains come later, by control requests). */
@Serializable
internal data class ChipChildSpec(
    val index: Int,
    val config: ChipConfig,
)

@Serializable
internal data class CallableEntry(val id: Int, val name: String)
