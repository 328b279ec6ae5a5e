package dev.strata.cluster

import kotlinx.serialization.Contextual
import kotlinx.serialization.KSerializer
import kotlinx.serialization.Serializable
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

    override fun toBinary(o: Any): ByteArray {
        @Suppress("UNCHECKED_CAST")
        val s = TYPES[o.javaClass.name] as? KSerializer<Any>
            ?: throw IllegalArgumentException("${o.javaClass.name} is not a Strata wire message; its serializer is not registered")
        return json.encodeToString(s, o).toByteArray()
    }

    override fun fromBinary(bytes: ByteArray, manifest: String): Any {
        val s = TYPES[manifest] ?: throw java.io.NotSerializableException("'$manifest' is not a Strata wire message; refused")
        return json.decodeFromString(s, String(bytes)) ?: throw java.io.NotSerializableException("an empty $manifest")
    }

    internal companion object {
        /** Above Pekko's reserved 0–40. */
        const val IDENTIFIER: Int = 4101

        /** The accepted classes, by manifest. */
        val TYPES: Map<String, KSerializer<*>> = mapOf(
            Describe::class.java.name to Describe.serializer(),
            NodeInfo::class.java.name to NodeInfo.serializer(),
        )
    }
}

/** A typed `ActorRef` as its serialization format (the resolver turns it back into a reference on the receiver). */
internal class ActorRefSerializer(private val resolver: ActorRefResolver) : KSerializer<ActorRef<*>> {
    override val descriptor: SerialDescriptor = PrimitiveSerialDescriptor("ActorRef", PrimitiveKind.STRING)
    override fun serialize(encoder: Encoder, value: ActorRef<*>) = encoder.encodeString(resolver.toSerializationFormat(value))
    override fun deserialize(decoder: Decoder): ActorRef<*> = resolver.resolveActorRef<Any>(decoder.decodeString())
}
