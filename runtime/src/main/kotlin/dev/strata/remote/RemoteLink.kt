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

    /** Closes the link: calls in flight fail with [RemoteNodeLostException]. Idempotent; never throws. */
    public fun close()
}

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
