package dev.strata.cluster

import org.apache.pekko.actor.typed.ActorRef
import org.apache.pekko.actor.typed.Scheduler
import org.apache.pekko.actor.typed.javadsl.AskPattern
import java.io.IOException
import java.util.ArrayDeque
import java.util.concurrent.CompletableFuture
import java.util.concurrent.TimeUnit
import java.util.concurrent.TimeoutException
import kotlin.time.Duration
import kotlin.time.toJavaDuration

/**
 * How tensor bytes cross the cluster (docs/protocol.md, "Level 4 on Pekko"): Artery drops any message over
 * its 256 KiB frame (logging it only on the sender), so nothing bigger is ever sent. Up to [INLINE] bytes
 * ride in the task or its reply; anything else is pulled in [CHUNK]-byte chunks with at most [WINDOW]
 * requests in flight — the receiver asks for the next chunk only when it has room, which is the
 * back-pressure: a slow reader slows the sender, and no queue grows without bound.
 */
internal object Transfers {
    /** Bytes of one chunk: a frame of 256 KiB minus room for the header. */
    const val CHUNK: Int = 192 * 1024

    /** Bytes of transfer units (or results) that travel inside the task message (or its reply). */
    const val INLINE: Int = 160 * 1024

    /** Chunk requests in flight per transfer. */
    const val WINDOW: Int = 8

    /**
     * Pulls [size] bytes of item [item] of request [requestId] from [source], handing each chunk to [sink] in
     * order; each chunk is waited for at most [timeout]. Throws [IOException] naming what failed.
     */
    fun pull(
        scheduler: Scheduler,
        source: ActorRef<DataCommand>,
        requestId: Long,
        item: Int,
        size: Long,
        timeout: Duration,
        sink: (offset: Long, bytes: ByteArray) -> Unit,
    ) {
        val inFlight = ArrayDeque<Pair<Long, CompletableFuture<Chunk>>>()
        var next = 0L
        fun request() {
            val offset = next
            val length = minOf(CHUNK.toLong(), size - offset).toInt()
            next += length
            val f = AskPattern.ask(source, { r: ActorRef<Chunk> -> Pull(requestId, item, offset, length, r) }, timeout.toJavaDuration(), scheduler)
            inFlight.add(offset to f.toCompletableFuture())
        }
        while (next < size && inFlight.size < WINDOW) request()
        while (inFlight.isNotEmpty()) {
            val (offset, f) = inFlight.poll()
            val chunk = try {
                f.get(timeout.inWholeMilliseconds + 1_000, TimeUnit.MILLISECONDS)
            } catch (e: TimeoutException) {
                throw IOException("no answer within $timeout for bytes $offset.. of item $item of request $requestId from $source", e)
            } catch (e: java.util.concurrent.ExecutionException) {
                throw IOException("bytes $offset.. of item $item of request $requestId from $source: ${e.cause?.message ?: e}", e.cause ?: e)
            }
            chunk.error?.let { throw IOException("bytes $offset.. of item $item of request $requestId: $it") }
            if (chunk.offset != offset) throw IOException("got bytes at ${chunk.offset} for a request at $offset")
            if (next < size) request() // ask for the next chunk before handing this one on: keep the window full
            sink(offset, chunk.payload)
        }
    }

    /** The transfer units (or results) among [sizes] that travel inline: in order, while they fit in [INLINE] bytes. */
    fun inline(sizes: List<Long>, candidates: List<Int> = sizes.indices.toList()): List<Int> {
        var room = INLINE.toLong()
        val out = ArrayList<Int>()
        for (i in candidates) {
            if (sizes[i] <= room) {
                out += i
                room -= sizes[i]
            }
        }
        return out
    }
}
