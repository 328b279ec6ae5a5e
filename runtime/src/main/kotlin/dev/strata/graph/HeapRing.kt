package dev.strata.graph

import dev.strata.nativebind.posix.sys_mman_h
import kotlinx.coroutines.CancellableContinuation
import kotlinx.coroutines.suspendCancellableCoroutine
import java.lang.foreign.Arena
import java.lang.foreign.MemorySegment
import kotlin.coroutines.resume
import dev.strata.shm.SharedMemoryFile

/**
 * Bytes for `alloc` at one scope depth: a circular region handed out in allocation order and reclaimed
 * in the same order (an allocation released early is reclaimed once every older one is). Inner scopes
 * end before outer ones, so one ring per depth keeps reclamation FIFO in practice.
 *
 * The region is reserved on first use. Thread-safe: allocation runs on the orchestrator thread,
 * release on whichever thread consumes the owning slot.
 */
internal class HeapRing(val index: Int, val capacity: Long, private val shared: Boolean = false) {
    /** One allocation: [segment] is zeroed when handed out. */
    class Allocation(val offset: Long, val size: Long, val segment: MemorySegment) {
        var released = false
    }

    private var region: MemorySegment? = null
    private var sharedFile: SharedMemoryFile? = null

    /** The shared-memory file behind the ring (rings of workers with child processes), once reserved. */
    val sharedPath: String? get() = sharedFile?.path?.toString()

    /** Removes the shared file's name (worker close); views already handed out stay valid. */
    @Synchronized
    fun unlink() {
        sharedFile?.close()
    }
    private val live = ArrayDeque<Allocation>()
    private var head = 0L
    private var waiter: CancellableContinuation<Unit>? = null

    /** Bytes currently handed out, including released ones not yet reclaimed. */
    @get:Synchronized
    val used: Long
        get() = if (live.isEmpty()) 0 else {
            val tail = live.first().offset
            if (head > tail) head - tail else capacity - tail + head
        }

    /** Rounds [bytes] up to the ring's alignment. */
    fun sizeFor(bytes: Long): Long = ((maxOf(bytes, 1) + ALIGN - 1) / ALIGN) * ALIGN

    /** Allocates [bytes] or returns null when the ring has no room now. */
    @Synchronized
    fun tryAllocate(bytes: Long): Allocation? {
        val size = sizeFor(bytes)
        require(size <= capacity) { "allocation of $bytes B exceeds heap ring $index capacity $capacity B" }
        val offset = when {
            live.isEmpty() -> 0L.also { head = 0 }
            head > live.first().offset -> when { // not wrapped: [tail, head) in use
                capacity - head >= size -> head
                live.first().offset >= size -> 0L
                else -> return null
            }
            else -> if (live.first().offset - head >= size) head else return null // wrapped
        }
        head = offset + size
        val seg = regionSegment().asSlice(offset, size)
        seg.fill(0)
        return Allocation(offset, size, seg).also { live.addLast(it) }
    }

    /**
     * Allocates [bytes], suspending while the ring has no room until enough is released. Cancellable
     * (the caller bounds the wait with a timeout).
     */
    suspend fun allocate(bytes: Long): Allocation {
        tryAllocate(bytes)?.let { return it }
        while (true) {
            var got: Allocation? = null
            suspendCancellableCoroutine { c ->
                synchronized(this) {
                    got = tryAllocate(bytes)
                    if (got == null) waiter = c
                }
                if (got != null) c.resume(Unit)
                else c.invokeOnCancellation { synchronized(this) { if (waiter === c) waiter = null } }
            }
            got?.let { return it }
        }
    }

    /** Gives [a] back; reclaims every leading released allocation. Wakes an allocation waiting for room. */
    fun release(a: Allocation) {
        val w: CancellableContinuation<Unit>?
        synchronized(this) {
            a.released = true
            while (live.isNotEmpty() && live.first().released) live.removeFirst()
            if (live.isEmpty()) head = 0
            w = waiter
            waiter = null
        }
        w?.resume(Unit)
    }

    private fun regionSegment(): MemorySegment = region ?: reserve(capacity).also { region = it }

    /**
     * An anonymous private mapping: the kernel zero-fills each page on first touch, so reserving a ring of
     * many MiB costs nothing until the bytes are used (an eagerly zeroed allocation of 64 MiB costs tens
     * of milliseconds). Unmapped once the ring is unreachable. Falls back to a zeroed heap-off allocation
     * where `mmap` is not available.
     */
    private fun reserve(bytes: Long): MemorySegment {
        if (shared) { // child processes map it by name; tmpfs pages are also zero until touched
            val f = SharedMemoryFile.create(bytes, "heap", gcMapped = true)
            sharedFile = f
            return f.segment
        }
        val p = try {
            sys_mman_h.mmap(
                MemorySegment.NULL, bytes, sys_mman_h.PROT_READ or sys_mman_h.PROT_WRITE,
                sys_mman_h.MAP_PRIVATE or sys_mman_h.MAP_ANONYMOUS or sys_mman_h.MAP_NORESERVE, -1, 0,
            )
        } catch (_: Throwable) {
            null
        }
        if (p == null || p.address() == sys_mman_h.MAP_FAILED) return Arena.ofAuto().allocate(bytes, ALIGN)
        return p.reinterpret(bytes, Arena.ofAuto()) { sys_mman_h.munmap(it, bytes) }
    }

    companion object {
        const val ALIGN = 64L
    }
}
