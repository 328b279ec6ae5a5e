package dev.strata.cluster

import kotlinx.serialization.Contextual
import kotlinx.serialization.KSerializer
import kotlinx.serialization.Serializable
import kotlinx.serialization.Transient
import dev.strata.remote.RemoteTaskSpec
import java.nio.ByteBuffer
import kotlinx.serialization.descriptors.PrimitiveKind
import kotlinx.serialization.descriptors.PrimitiveSerialDescriptor
import kotlinx.serialization.descriptors.SerialDescriptor
import kotlinx.serialization.encoding.Decoder
import kotlinx.serialization.encoding.Encoder
import kotlinx.serialization.json.Json
import kotlinx.serialization.modules.SerializersModule
import org.apache.pekko.actor.ExtendedActorSystem
import org.apache.pekko.actor.typed.ActorRef
import org.apache.pekko.actor.typed.ActorRefResolver
import org.apache.pekko.actor.typed.javadsl.Adapter
import org.apache.pekko.serialization.SerializerWithStringManifest

/** Every message Strata sends between cluster members: serialized by [WireSerializer], nothing else. */
public sealed interface Wire

/** What a level-3 node serves (its actor's protocol). */
public sealed interface NodeCommand : Wire

/** Asks a node to describe itself; the answer goes to [replyTo]. */
@Serializable
public data class Describe(@Contextual val replyTo: ActorRef<NodeInfo>) : NodeCommand

/**
 * A node's description: its cluster [address], the level of its worker, its sub workers, and its chips
 * by driver (empty for a node without chips).
 */
@Serializable
public data class NodeInfo(val address: String, val level: Int, val subWorkers: Int, val chipDrivers: List<String>) : Wire

/** Asks a node whether it can run the callable with stable name [callable]; the answer goes to [replyTo]. */
@Serializable
public data class Admit(val callable: String, @Contextual val replyTo: ActorRef<Admitted>) : NodeCommand

/** A node's answer to [Admit]: null when it can run the callable, else why not (naming the class). */
@Serializable
public data class Admitted(val problem: String?) : Wire

/**
 * Transfer unit [unit] of a task is result [item] of request [requestId], which a node holds: the node the
 * task goes to when [from] is empty; otherwise node [from], which serves it on its data plane ([dataPort] >
 * 0) or through its data actor [source].
 */
@Serializable
public data class HeldUnit(
    val unit: Int,
    val requestId: Long,
    val item: Int,
    val from: String = "",
    val dataHost: String = "",
    val dataPort: Int = 0,
    @Contextual val source: ActorRef<DataCommand>? = null,
)

/**
 * Runs one remote task ([spec]) on a node: request [requestId] of the caller, seen by the task as running
 * on [path]. The transfer units listed in [inline] travel in [payload], one after the other; those in
 * [held] are results the node kept from earlier tasks; the node fetches the others from the caller's data
 * plane ([dataPort]), or pulls them from [source] in chunks when it has none. The outcome goes to [replyTo].
 */
@Serializable
public data class RunTask(
    val requestId: Long,
    val path: String,
    val spec: RemoteTaskSpec,
    val inline: List<Int>,
    @Contextual val source: ActorRef<DataCommand>,
    @Contextual val replyTo: ActorRef<TaskReply>,
    /** The caller's data plane (host and port; port 0: none, pull through [source]). */
    val dataHost: String = "",
    val dataPort: Int = 0,
    val held: List<HeldUnit> = emptyList(),
    @Transient override val payload: ByteArray = EMPTY,
) : NodeCommand, Carrying {
    override fun carrying(bytes: ByteArray): Wire = copy(payload = bytes)
}

/** Asks a node to interrupt the task of request [requestId], if it still runs. */
@Serializable
public data class CancelTask(val requestId: Long) : NodeCommand

/** The outcome of a [RunTask]. */
public sealed interface TaskReply : Wire

/**
 * The task succeeded. The written arguments listed in [inline] travel in [payload], one after the other;
 * the node holds the others ([retained]): the caller pulls them from [source] when it needs them (at once,
 * or when something reads them: an argument that may stay), then sends it a [Release].
 */
@Serializable
public data class TaskDone(
    val requestId: Long,
    val inline: List<Int>,
    val retained: List<Int>,
    @Contextual val source: ActorRef<DataCommand>,
    /** The node's data plane (host and port; port 0: none, pull through [source]). */
    val dataHost: String = "",
    val dataPort: Int = 0,
    @Transient override val payload: ByteArray = EMPTY,
) : TaskReply, Carrying {
    override fun carrying(bytes: ByteArray): Wire = copy(payload = bytes)
}

/**
 * The task failed on the node: [nestedPath] set when a nested run failed there (see
 * [dev.strata.remote.RemoteTaskFailure]). [heldUnit] >= 0: it did not start, because the bytes of that held
 * unit could not be read from the node that held them ([errorMessage] says why).
 */
@Serializable
public data class TaskFailed(
    val requestId: Long,
    val nestedPath: String?,
    val taskId: Long,
    val taskName: String,
    val errorClass: String,
    val errorMessage: String?,
    val errorStack: String,
    val heldUnit: Int = -1,
) : TaskReply

/** What a member's data actor serves: chunks of the bytes of a request it holds. */
public sealed interface DataCommand : Wire

/**
 * Asks for [length] bytes from [offset] of item [item] of request [requestId] (a transfer unit on the
 * caller, a written argument on the node); the [Chunk] goes to [replyTo].
 */
@Serializable
public data class Pull(
    val requestId: Long,
    val item: Int,
    val offset: Long,
    val length: Int,
    @Contextual val replyTo: ActorRef<Chunk>,
) : DataCommand

/** The node's results of request [requestId] are no longer needed (the node drops them). */
@Serializable
public data class Release(val requestId: Long) : DataCommand

/** Bytes answering a [Pull] in [payload], or [error] when the request is unknown or the read failed. */
@Serializable
public data class Chunk(
    val requestId: Long,
    val item: Int,
    val offset: Long,
    val error: String? = null,
    @Transient override val payload: ByteArray = EMPTY,
) : Wire, Carrying {
    override fun carrying(bytes: ByteArray): Wire = copy(payload = bytes)
}

/**
 * A message that carries raw bytes beside its JSON header ([WireSerializer] frames them after it), so
 * tensor bytes are never encoded as JSON numbers.
 */
public sealed interface Carrying {
    public val payload: ByteArray

    /** This message carrying [bytes] instead. */
    public fun carrying(bytes: ByteArray): Wire
}

private val EMPTY = ByteArray(0)

/**
 * Strata's Pekko serializer: kotlinx-serialization JSON of the [Wire] classes listed in [TYPES] (nothing
 * else is accepted: a manifest naming another class is refused), with typed `ActorRef` fields as their
 * serialization format string. Registered for `dev.strata.cluster.Wire` by the member's configuration.
 */
public class WireSerializer(system: ExtendedActorSystem) : SerializerWithStringManifest() {
    private val resolver = ActorRefResolver.get(Adapter.toTyped(system))

    private val json = Json {
        serializersModule = SerializersModule { contextual(ActorRef::class) { _ -> ActorRefSerializer(resolver) } }
    }

    override fun identifier(): Int = IDENTIFIER

    override fun manifest(o: Any): String = o.javaClass.name

    /** Frame: `i32 header length | header (JSON, UTF-8) | payload` (the payload of a [Carrying] message, else nothing). */
    override fun toBinary(o: Any): ByteArray {
        @Suppress("UNCHECKED_CAST")
        val s = TYPES[o.javaClass.name] as? KSerializer<Any>
            ?: throw IllegalArgumentException("${o.javaClass.name} is not a Strata wire message; its serializer is not registered")
        val header = json.encodeToString(s, o).toByteArray()
        val payload = (o as? Carrying)?.payload ?: EMPTY
        return ByteBuffer.allocate(4 + header.size + payload.size).putInt(header.size).put(header).put(payload).array()
    }

    override fun fromBinary(bytes: ByteArray, manifest: String): Any {
        val s = TYPES[manifest] ?: throw java.io.NotSerializableException("'$manifest' is not a Strata wire message; refused")
        val b = ByteBuffer.wrap(bytes)
        val n = b.int
        if (n < 0 || n > bytes.size - 4) throw java.io.NotSerializableException("a $manifest frame with a header of $n bytes in ${bytes.size}")
        val msg = json.decodeFromString(s, String(bytes, 4, n, Charsets.UTF_8)) ?: throw java.io.NotSerializableException("an empty $manifest")
        if (msg !is Carrying) return msg
        return msg.carrying(bytes.copyOfRange(4 + n, bytes.size))
    }

    internal companion object {
        /** Above Pekko's reserved 0–40. */
        const val IDENTIFIER: Int = 4101

        /** The accepted classes, by manifest. */
        val TYPES: Map<String, KSerializer<*>> = mapOf(
            Describe::class.java.name to Describe.serializer(),
            NodeInfo::class.java.name to NodeInfo.serializer(),
            Admit::class.java.name to Admit.serializer(),
            Admitted::class.java.name to Admitted.serializer(),
            RunTask::class.java.name to RunTask.serializer(),
            CancelTask::class.java.name to CancelTask.serializer(),
            TaskDone::class.java.name to TaskDone.serializer(),
            TaskFailed::class.java.name to TaskFailed.serializer(),
            Pull::class.java.name to Pull.serializer(),
            Release::class.java.name to Release.serializer(),
            Chunk::class.java.name to Chunk.serializer(),
        )
    }
}

/** A typed `ActorRef` as its serialization format (the resolver turns it back into a reference on the receiver). */
internal class ActorRefSerializer(private val resolver: ActorRefResolver) : KSerializer<ActorRef<*>> {
    override val descriptor: SerialDescriptor = PrimitiveSerialDescriptor("ActorRef", PrimitiveKind.STRING)
    override fun serialize(encoder: Encoder, value: ActorRef<*>) = encoder.encodeString(resolver.toSerializationFormat(value))
    override fun deserialize(decoder: Decoder): ActorRef<*> = resolver.resolveActorRef<Any>(decoder.decodeString())
}
