package dev.strata.chip.sim

import dev.strata.shm.SharedMemoryFile
import dev.strata.shm.Futex
import dev.strata.shm.FutexWaiter
import dev.strata.shm.ParkedFlag
import dev.strata.error.CommunicationException
import dev.strata.error.ProtocolException
import java.lang.foreign.MemorySegment
import java.lang.foreign.ValueLayout
import java.lang.invoke.VarHandle
import java.nio.file.Path
import dev.strata.chip.CommDomainSpec

/**
 * The simulated chips' communication domain (DESIGN.md §9, issue 4 §5): one shared-memory file holding
 * a barrier header and every rank's window, mapped by each member chip (thread or child JVM). A kernel
 * reaches a peer's buffer at the same offset in the peer's window ([window]); [barrier] synchronises
 * the members.
 *
 * ```
 *      0  magic (i32) | 4 version (i32) | 8 ranks (i32) | 16 window bytes per rank (i64) | 24 total size (i64)
 *     64  barrier arrivals (i32)              — alone on its line
 *    128  barrier generation (i32, futex word) — alone on its line
 *    192  parked waiters (i32) | 196 broken (i32, sticky)
 *   4096  rank 0's window | rank 1's window | …   (each window a multiple of 4096 bytes)
 * ```
 * The barrier is sense-reversing: arrivals count up; the last rank resets the count, then advances the
 * generation and wakes parked waiters; the others wait for the generation to move (a bounded spin, then
 * a shared futex wait). Every wait has a deadline: a rank that times out marks the domain broken (a
 * sticky word) and wakes everyone, so every member fails with [CommunicationException] instead of
 * waiting for a peer that will never come.
 *
 * One instance per member; thread-safe for one caller at a time (a chip's single orchestration thread).
 */
public class SimCommDomain private constructor(
    /** The domain's name (for messages). */
    public val name: String,
    /** This member's rank. */
    public val rank: Int,
    private val file: SharedMemoryFile,
    private val spinNanos: Long,
) : AutoCloseable {
    private val seg: MemorySegment = file.segment
    private val generationWord = seg.asSlice(GENERATION_OFFSET, 4)
    private val parked = ParkedFlag(seg, PARKED_OFFSET)

    /** Number of ranks. */
    public val ranks: Int = seg.get(ValueLayout.JAVA_INT, RANKS_OFFSET)

    /** Bytes of each rank's window (the requested size rounded up to 4096). */
    public val windowBytes: Long = seg.get(ValueLayout.JAVA_LONG, WINDOW_BYTES_OFFSET)

    /** The shared file behind the domain (members open it by this path). */
    public val path: Path get() = file.path

    init {
        require(rank in 0 until ranks) { "rank $rank outside 0 until $ranks of domain '$name'" }
    }

    /** Rank [r]'s window: its own for `r == rank`, a peer's (remote view) otherwise. */
    public fun window(r: Int): MemorySegment {
        require(r in 0 until ranks) { "rank $r outside 0 until $ranks of domain '$name'" }
        return seg.asSlice(HEADER_BYTES + r * windowBytes, windowBytes)
    }

    /**
     * The named buffers of [spec] in rank [r]'s window (its own, or a peer's remote view), by name.
     * Throws [IllegalArgumentException] if the spec's buffers do not fit this domain's window.
     */
    public fun buffers(spec: CommDomainSpec, r: Int = rank): Map<String, MemorySegment> {
        require(spec.usedBytes <= windowBytes) {
            "the buffers of domain '${spec.name}' need ${spec.usedBytes} B but its windows have $windowBytes B"
        }
        val w = window(r)
        val offsets = spec.offsets
        return spec.buffers.associate { b -> b.name to w.asSlice(offsets.getValue(b.name), b.bytes) }
    }

    /** Zeroes this rank's own window (before the ready barrier, so no peer ever sees stale bytes). */
    public fun zeroOwnWindow() {
        window(rank).fill(0)
    }

    /** True once a member timed out: every later [barrier] fails at once. */
    public val isBroken: Boolean get() = (INT.getVolatile(seg, BROKEN_OFFSET) as Int) != 0

    /**
     * Waits until every rank called [barrier] (for this generation), at most [timeoutNanos]. Writes made
     * before the barrier by any rank are visible to every rank after it.
     *
     * @throws CommunicationException if the wait timed out (the domain is then broken for everyone) or
     *   the domain was already broken.
     */
    public fun barrier(timeoutNanos: Long) {
        checkNotBroken()
        val start = System.nanoTime()
        val generation = INT.getVolatile(seg, GENERATION_OFFSET) as Int
        val arrived = (INT.getAndAdd(seg, ARRIVALS_OFFSET, 1) as Int) + 1
        if (arrived == ranks) {
            INT.setVolatile(seg, ARRIVALS_OFFSET, 0)
            INT.getAndAdd(seg, GENERATION_OFFSET, 1)
            parked.wakeIfParked(generationWord)
            return
        }
        val passed = FutexWaiter.await(generationWord, parked, generation, spinNanos, timeoutNanos - (System.nanoTime() - start), PARK_SLICE_NANOS) {
            INT.getVolatile(seg, GENERATION_OFFSET) as Int != generation || isBroken
        }
        if (INT.getVolatile(seg, GENERATION_OFFSET) as Int != generation) return
        checkNotBroken()
        check(!passed) { "the barrier of domain '$name' woke without a reason" }
        val now = INT.getVolatile(seg, ARRIVALS_OFFSET) as Int
        INT.setVolatile(seg, BROKEN_OFFSET, 1)
        Futex.wakeAll(generationWord)
        throw CommunicationException(
            name, rank,
            "barrier timed out after ${timeoutNanos / 1_000_000} ms with $now of $ranks ranks arrived; a peer is " +
                "slow, hung or dead. The domain is now broken for every member",
        )
    }

    /**
     * Breaks the domain for every member (a member failed or died; [reason] says how): waiters wake and
     * every barrier, now or later, fails at once with [CommunicationException].
     */
    public fun markBroken(reason: String) {
        this.reason = reason
        INT.setVolatile(seg, BROKEN_OFFSET, 1)
        Futex.wakeAll(generationWord)
    }

    @Volatile
    private var reason: String? = null

    private fun checkNotBroken() {
        if (isBroken) {
            throw CommunicationException(
                name, rank,
                "the domain is broken: a member timed out in a barrier, failed or died${reason?.let { " ($it)" } ?: ""}",
            )
        }
    }

    /** Unmaps the domain; the creator's handle also removes the file. */
    override fun close(): Unit = file.close()

    override fun toString(): String = "SimCommDomain($name, rank $rank of $ranks, ${windowBytes} B windows)"

    public companion object {
        public const val MAGIC: Int = 0x53545244 // "STRD"
        public const val VERSION: Int = 1
        public const val MAGIC_OFFSET: Long = 0
        public const val VERSION_OFFSET: Long = 4
        public const val RANKS_OFFSET: Long = 8
        public const val WINDOW_BYTES_OFFSET: Long = 16
        public const val TOTAL_SIZE_OFFSET: Long = 24
        public const val ARRIVALS_OFFSET: Long = 64
        public const val GENERATION_OFFSET: Long = 128
        public const val PARKED_OFFSET: Long = 192
        public const val BROKEN_OFFSET: Long = 196
        public const val HEADER_BYTES: Long = 4096
        private const val PAGE = 4096L
        private const val PARK_SLICE_NANOS = 100_000_000L // re-check the broken word at least every 100 ms
        private val INT: VarHandle = ValueLayout.JAVA_INT.varHandle()

        /** Window bytes actually given for a request of [requested] bytes. */
        public fun windowSizeFor(requested: Long): Long = (requested + PAGE - 1) / PAGE * PAGE

        /**
         * Creates the domain file for [ranks] ranks with windows of at least [windowBytes] bytes (zero-filled)
         * and returns rank [rank]'s handle; other members [open] it by [path].
         */
        public fun create(name: String, ranks: Int, windowBytes: Long, rank: Int = 0, spinNanos: Long = 50_000): SimCommDomain {
            require(ranks in 1..MAX_RANKS) { "a domain has 1..$MAX_RANKS ranks, was $ranks" }
            require(windowBytes > 0) { "window bytes must be > 0, was $windowBytes" }
            val window = windowSizeFor(windowBytes)
            val total = HEADER_BYTES + ranks * window
            val f = SharedMemoryFile.create(total, "comm")
            val s = f.segment
            s.set(ValueLayout.JAVA_INT, VERSION_OFFSET, VERSION)
            s.set(ValueLayout.JAVA_INT, RANKS_OFFSET, ranks)
            s.set(ValueLayout.JAVA_LONG, WINDOW_BYTES_OFFSET, window)
            s.set(ValueLayout.JAVA_LONG, TOTAL_SIZE_OFFSET, total)
            INT.setRelease(s, MAGIC_OFFSET, MAGIC) // last: a member that sees it sees the whole header
            return SimCommDomain(name, rank, f, spinNanos)
        }

        /** Opens the domain file at [path] as rank [rank]. Throws [ProtocolException] if it is not one. */
        public fun open(name: String, path: Path, rank: Int, spinNanos: Long = 50_000): SimCommDomain {
            val f = SharedMemoryFile.open(path)
            try {
                val s = f.segment
                val problems = buildList {
                    if (s.byteSize() < HEADER_BYTES) add("file of ${s.byteSize()} B is smaller than the $HEADER_BYTES-byte header")
                    else {
                        val magic = INT.getAcquire(s, MAGIC_OFFSET) as Int
                        if (magic != MAGIC) add("magic is 0x${magic.toUInt().toString(16)}, expected 0x${MAGIC.toString(16)}")
                        val version = s.get(ValueLayout.JAVA_INT, VERSION_OFFSET)
                        if (version != VERSION) add("version $version, this runtime speaks $VERSION")
                        val total = s.get(ValueLayout.JAVA_LONG, TOTAL_SIZE_OFFSET)
                        val expected = HEADER_BYTES + s.get(ValueLayout.JAVA_INT, RANKS_OFFSET) * s.get(ValueLayout.JAVA_LONG, WINDOW_BYTES_OFFSET)
                        if (total != expected || total > s.byteSize()) add("header says $total B, ranks and windows need $expected B, the file has ${s.byteSize()} B")
                    }
                }
                if (problems.isNotEmpty()) throw ProtocolException(path.toString(), problems.joinToString("; "))
                return SimCommDomain(name, rank, f, spinNanos)
            } catch (t: Throwable) {
                f.close()
                throw t
            }
        }

        /**
         * The files a sim driver's root info names (the data file, then the collectives' staging file), or
         * empty when [rootInfo] is not a sim domain's (another driver's root info).
         */
        public fun filesOf(rootInfo: ByteArray): List<Path> {
            if (rootInfo.size > 4096 || rootInfo.any { it < 0x20 && it != '\n'.code.toByte() }) return emptyList()
            val lines = String(rootInfo).split('\n')
            if (lines.size != 2 || !lines.all { it.startsWith("/") }) return emptyList()
            return lines.map { java.nio.file.Paths.get(it) }
        }

        /** Ranks a domain can hold (the size of a communicator's rank table on real hardware). */
        public const val MAX_RANKS: Int = CommDomainSpec.MAX_RANKS
    }
}
