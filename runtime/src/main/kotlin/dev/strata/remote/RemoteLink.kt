package dev.strata.remote

import dev.strata.tensor.DType
import dev.strata.tensor.Tag
import kotlinx.serialization.Serializable
import java.util.concurrent.CompletableFuture

/**
 * SPI: a next-level child in another host, reached through a transport this module does not know
 * (`strata-cluster` implements it on Apache Pekko Cluster). A worker lists it as
 * [dev.strata.worker.NextLevelChild.Remote]; the scheduler talks to it through the same endpoint
 * interface as to threads and child JVMs, one task at a time.
 *
 * The link carries what [RemoteCall] describes: the task's header ([RemoteCall.spec]), the bytes of its
 * transfer units ([RemoteCall.unitSize] / [RemoteCall.readUnit], pulled when the remote task needs them)
 * and, after the task ran, the bytes of the arguments it wrote ([RemoteCall.writeResult]). The node runs
 * the task with [RemoteTasks.run].
 */
public interface RemoteLink {
    /** The node's `host:port`, shown in every error about it (`L4 node#1@127.0.0.1:25520`). */
    public val address: String

    /** The level of the worker the node serves (a level-4 worker's nodes are level 3). */
    public val level: Int

    /**
     * Checks that the node can run the callable named [callable] (a stable name: DESIGN.md §8), before
     * anything of the run is dispatched; throws an exception naming the node and the class when it cannot.
     * Called once per callable and link; may block, bounded by the link's own timeout.
     */
    public fun admit(callable: String)

    /**
     * Runs [call] on the node; never blocks. The future completes when the task succeeded and every
     * written argument's bytes were handed to [RemoteCall.writeResult]; it fails with [RemoteTaskFailure]
     * when the task failed there, with [RemoteNodeLostException] when the node died, became unreachable
     * or the link closed, and with any other exception when the transport failed.
     */
    public fun execute(call: RemoteCall): CompletableFuture<Unit>

    /** Asks the node to interrupt [call]'s task, if it still runs; never blocks, never throws. */
    public fun cancel(call: RemoteCall)

    /**
     * Whether the node may keep big results of its tasks instead of sending them back at once
     * ([RemoteArg.mayStay], [RemoteCall.keepResult]). Default: yes, when the transport supports it.
     */
    public val keepsResults: Boolean get() = true

    /**
     * Whether this node holds [held] itself, so a task sent here can read them without the bytes moving
     * ([RemoteCall.heldInput]). Default: no node holds anything.
     */
    public fun holds(held: RemoteHeld): Boolean = false

    /**
     * Whether a task sent here can read [held] — bytes another node keeps — straight from that node, without
     * the bytes passing through the caller ([RemoteCall.heldInput]). When that node is gone by then, the
     * call fails with [RemoteHeldUnavailable]. Default: no.
     */
    public fun canFetch(held: RemoteHeld): Boolean = false

    /** Closes the link: calls in flight fail with [RemoteNodeLostException]. Idempotent; never throws. */
    public fun close()
}

/**
 * The bytes of one written argument that a node kept after its task ([RemoteCall.keepResult]) instead of
 * sending them back: the caller's view is stale until they are fetched. The level-4 worker fetches them
 * when something else reads the view (a local task, a task on another node) and at the end of the run,
 * and releases them once the view is written again or the run ended. Thread-safe.
 */
public interface RemoteHeld {
    /** The holding node's `host:port`. */
    public val address: String

    /** Bytes: the view's elements, packed row-major. */
    public val size: Long

    /**
     * Reads the bytes from the node, handing them to [sink] in order, in pieces. Blocks, bounded by the
     * transport's own timeout. Throws [RemoteNodeLostException] when the node is gone or no longer holds
     * them.
     */
    public fun fetch(sink: (offset: Long, bytes: ByteArray) -> Unit)

    /** The node may drop the bytes. Idempotent; never blocks, never throws. */
    public fun release()
}

/**
 * A task could not start because the bytes of one of its inputs, which another node held ([held]), could
 * not be read there ([reason]: that node is gone, or no longer holds them).
 */
public class RemoteHeldUnavailable(public val held: RemoteHeld, public val reason: String) :
    RuntimeException("${held.address} could not send $held: $reason")

/** A node was lost while it owed an answer (it died, became unreachable, or its link closed). */
public class RemoteNodeLostException(
    /** The node's `host:port`. */
    public val address: String,
    /** What happened, e.g. `became unreachable (no heartbeat for 2 s)`. */
    public val reason: String,
) : RuntimeException("node $address $reason")

/**
 * A task failed on a remote node. [nestedPath] is the path inside the node where it failed when the task
 * ran a nested run that failed (`L3 sub#0`), null when the task itself threw; the other fields describe
 * the original error (the innermost one for a nested failure).
 */
public class RemoteTaskFailure(
    public val nestedPath: String?,
    public val taskId: Long,
    public val taskName: String,
    public val errorClass: String,
    public val errorMessage: String?,
    public val errorStack: String,
) : RuntimeException("$errorClass${errorMessage?.let { ": $it" } ?: ""}", null, false, false)

/**
 * One tensor argument of a remote task: its [tag] and [dtype], and where it is in the node's copy of
 * transfer unit [unit]: [byteOffset], [shape] and [strides] (in elements), exactly as on the caller
 * when the unit is a span of the caller's buffer, or a dense row-major copy of the view.
 */
@Serializable
public data class RemoteArg(
    val tag: Tag,
    val dtype: DType,
    val unit: Int,
    val byteOffset: Long,
    val shape: List<Long>,
    val strides: List<Long>,
    /**
     * Whether the node may keep the written bytes instead of sending them back ([RemoteCall.keepResult]):
     * a tracked written argument that travels alone, on a worker that tracks what its nodes hold.
     */
    val mayStay: Boolean = false,
) {
    /** Bytes of the view's elements, packed. */
    val packedBytes: Long get() = shape.fold(dtype.byteSize.toLong()) { a, n -> a * n }

    /** Whether the node sends this argument's bytes back (tags that write, and untracked ones). */
    val returns: Boolean get() = tag.writes || !tag.tracked

}

/**
 * The header of a remote task (everything but the bytes): the caller's task coordinates, the callable's
 * stable name, its arguments over [unitSizes] transfer units, and its scalars.
 */
@Serializable
public data class RemoteTaskSpec(
    val taskId: Long,
    val member: Int,
    val groupSize: Int,
    val taskName: String,
    val callable: String,
    val unitSizes: List<Long>,
    val args: List<RemoteArg>,
    val scalars: List<Long>,
)
