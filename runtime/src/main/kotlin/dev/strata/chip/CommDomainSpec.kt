package dev.strata.chip

import arrow.core.raise.accumulate
import arrow.core.raise.either
import dev.strata.error.InvalidConfigException
import dev.strata.tensor.DType
import kotlinx.serialization.Serializable

/** A named buffer in every member's window of a communication domain: [count] elements of [dtype]. */
@Serializable
public data class CommBufferSpec(val name: String, val dtype: DType, val count: Long) {
    /** Bytes of the buffer. */
    public val bytes: Long get() = count * dtype.byteSize
}

/**
 * A communication domain (DESIGN.md §9, issue 4 §5): [name], the member chips (rank `r` is
 * `chips[r]`), the window each member gets ([windowBytes], at least), and named [buffers] carved from
 * the start of every window in declaration order, each aligned to 64 bytes.
 *
 * [validate] reports every problem at once — before any device work, so a buffer that does not fit
 * never costs a started chip.
 */
@Serializable
public data class CommDomainSpec(
    val name: String,
    val chips: List<Int>,
    val windowBytes: Long,
    val buffers: List<CommBufferSpec> = emptyList(),
) {
    /** Where each buffer starts in a window, by name, in declaration order. */
    public val offsets: Map<String, Long>
        get() {
            var at = 0L
            return buffers.associate { b ->
                val start = at
                at = align(at + b.bytes)
                b.name to start
            }
        }

    /** Bytes the buffers take in each window (with alignment). */
    public val usedBytes: Long get() = buffers.fold(0L) { at, b -> align(at + b.bytes) }

    /**
     * Throws [InvalidConfigException] listing every problem, for a worker with [chipCount] chips;
     * returns this spec otherwise.
     */
    public fun validate(chipCount: Int): CommDomainSpec {
        either {
            accumulate {
                ensureOrAccumulate(name.isNotBlank()) { "a communication domain needs a name" }
                ensureOrAccumulate(chips.isNotEmpty()) { "domain '$name' has no member chips" }
                ensureOrAccumulate(chips.size <= MAX_RANKS) { "domain '$name' has ${chips.size} members; at most $MAX_RANKS" }
                ensureOrAccumulate(chips.size == chips.toSet().size) { "domain '$name' lists a chip twice: $chips" }
                for (c in chips.distinct()) {
                    ensureOrAccumulate(c in 0 until chipCount) { "domain '$name' names chip $c; this worker has chips 0 until $chipCount" }
                }
                ensureOrAccumulate(windowBytes > 0) { "domain '$name' needs windowBytes > 0, was $windowBytes" }
                val dup = buffers.groupBy { it.name }.filterValues { it.size > 1 }.keys
                ensureOrAccumulate(dup.isEmpty()) { "domain '$name' declares buffer(s) $dup more than once" }
                for (b in buffers) {
                    ensureOrAccumulate(b.count > 0) { "buffer '${b.name}' of domain '$name' needs count > 0, was ${b.count}" }
                }
                if (windowBytes > 0 && buffers.all { it.count > 0 }) {
                    ensureOrAccumulate(usedBytes <= windowBytes) {
                        "the buffers of domain '$name' need $usedBytes B (" +
                            buffers.joinToString { "${it.name} ${it.bytes} B" } +
                            ", each aligned to $ALIGN B) but the window has $windowBytes B; raise windowBytes or shrink the buffers"
                    }
                }
            }
        }.onLeft { throw InvalidConfigException(it) }
        return this
    }

    public companion object {
        /** Alignment of each buffer in a window. */
        public const val ALIGN: Long = 64

        /** Members a domain can have (a communicator's rank table). */
        public const val MAX_RANKS: Int = 64

        private fun align(n: Long): Long = (n + ALIGN - 1) / ALIGN * ALIGN
    }
}
