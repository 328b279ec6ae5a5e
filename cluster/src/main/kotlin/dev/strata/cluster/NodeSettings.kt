package dev.strata.cluster

import arrow.core.raise.accumulate
import arrow.core.raise.either
import com.typesafe.config.Config
import com.typesafe.config.ConfigFactory
import com.typesafe.config.ConfigValueFactory
import dev.strata.error.InvalidConfigException
import java.net.InetAddress
import java.nio.file.Files
import java.nio.file.Path
import kotlin.time.Duration
import kotlin.time.Duration.Companion.seconds

/**
 * Mutual TLS for a cluster (Artery `tls-tcp`): one PKCS12 [keyStore] holding this member's key and
 * certificate, one [trustStore] holding the certificates it accepts. Pekko has no cookie; mTLS is what
 * keeps other processes out (../shared/reference/pekko-cluster-level4.md §5).
 */
public data class ClusterTls(
    val keyStore: Path,
    val keyStorePassword: String,
    val trustStore: Path,
    val trustStorePassword: String,
    val keyPassword: String = keyStorePassword,
)

/**
 * Where and how one member of a Strata cluster binds and joins (issue 15).
 *
 * @property hostname the address this member binds and advertises; loopback (`127.0.0.1`) by default.
 *   Any other address needs [tls]: a plain-TCP member reachable from the network would run whatever a
 *   stranger sends it.
 * @property port the port; 0 picks a free one (the member's address then says which).
 * @property seeds addresses (`host:port` or `pekko://strata@host:port`) of members to join; empty means
 *   this member starts a new cluster (it joins itself).
 * @property roles the member's roles (`l3` for a node serving tasks, `observer` for `strata doctor --cluster`).
 * @property tls mutual TLS; required for a non-loopback [hostname].
 * @property joinTimeout how long [ClusterNode.start] waits for this member to be Up.
 * @property dataPlane whether tensor bytes travel on a socket of their own beside Artery ([DataPlane], on
 *   [hostname], TLS like Artery); off, they are pulled through Artery in chunks under its frame limit.
 */
public data class NodeSettings(
    val hostname: String = LOOPBACK,
    val port: Int = 0,
    val seeds: List<String> = emptyList(),
    val roles: Set<String> = setOf(ROLE_L3),
    val tls: ClusterTls? = null,
    val joinTimeout: Duration = 20.seconds,
    val dataPlane: Boolean = true,
) {
    /** Every problem of these settings (empty when valid). */
    internal fun problems(): List<String> = either {
        accumulate {
            ensureOrAccumulate(port in 0..65535) { "port must be in 0..65535, was $port" }
            ensureOrAccumulate(hostname.isNotBlank()) { "hostname must not be blank" }
            ensureOrAccumulate(tls != null || isLoopback(hostname)) {
                "binding $hostname (not loopback) needs mutual TLS: give keystores (--tls-keystore/--tls-truststore, or NodeSettings.tls), " +
                    "or bind 127.0.0.1"
            }
            if (tls != null) {
                ensureOrAccumulate(Files.isReadable(tls.keyStore)) { "TLS keystore ${tls.keyStore} is not a readable file" }
                ensureOrAccumulate(Files.isReadable(tls.trustStore)) { "TLS truststore ${tls.trustStore} is not a readable file" }
            }
            for (s in seeds) ensureOrAccumulate(runCatching { seedAddress(s) }.isSuccess) { "seed '$s' is not host:port or pekko://$SYSTEM@host:port" }
            ensureOrAccumulate(joinTimeout.isPositive() && joinTimeout.isFinite()) { "joinTimeout must be > 0 and finite, was $joinTimeout" }
        }
    }.fold({ it.toList() }, { emptyList() })

    /** Throws [InvalidConfigException] listing every problem, or returns these settings. */
    public fun validate(): NodeSettings {
        val p = problems()
        if (p.isNotEmpty()) throw InvalidConfigException(p)
        return this
    }

    /** The Pekko configuration of this member (the reference's tuned values; see [pekkoConfig]). */
    internal fun toConfig(): Config = pekkoConfig(this)

    public companion object {
        /** The actor system's name: every member of a Strata cluster uses it. */
        public const val SYSTEM: String = "strata"

        /** The role of a member that serves tasks as a level-3 worker. */
        public const val ROLE_L3: String = "l3"

        /** The role of a level-4 program's member (it sends tasks to `l3` nodes; [ClusterClient]). */
        public const val ROLE_L4: String = "l4"

        /** The role of a short-lived observer (`strata doctor --cluster`). */
        public const val ROLE_OBSERVER: String = "observer"

        /** The default bind address. */
        public const val LOOPBACK: String = "127.0.0.1"

        /** Whether [host] names a loopback address (resolved without a DNS query for literals and `localhost`). */
        internal fun isLoopback(host: String): Boolean =
            host == "localhost" || runCatching { InetAddress.getByName(host).isLoopbackAddress }.getOrDefault(false)

        /** `pekko://strata@host:port` for `host:port` (or the full form, checked). */
        internal fun seedAddress(seed: String): String {
            if (seed.startsWith("pekko://")) {
                require(seed.startsWith("pekko://$SYSTEM@")) { "seed '$seed' is not a member of a '$SYSTEM' cluster" }
                return seed
            }
            val host = seed.substringBeforeLast(':', "")
            val port = seed.substringAfterLast(':', "").toIntOrNull()
            require(host.isNotEmpty() && port != null && port in 1..65535) { "seed '$seed' is not host:port" }
            return "pekko://$SYSTEM@$host:$port"
        }
    }
}

/**
 * The Pekko configuration of a member: cluster provider; Artery on [NodeSettings.hostname] (set
 * explicitly: Pekko's default is the host's address, not loopback) over `tcp`, or `tls-tcp` with mutual
 * authentication; a failure detector and split-brain resolver tuned so a dead member is unreachable in
 * ~3 s and removed in ~6 s (keep-oldest among the `l3` nodes, downing a crashed oldest one); the fork-join
 * `minimum-runnable` fix for JDK 21+; Java serialization off, Strata's messages on kotlinx-serialization.
 */
internal fun pekkoConfig(s: NodeSettings): Config {
    val tls = s.tls
    val hocon = """
        pekko {
          # Members that stop log "connection aborted" warnings at their peers on every clean close; Strata
          # reports membership and failures itself (doctor --cluster, the level-4 endpoint).
          loglevel = "ERROR"
          stdout-loglevel = "ERROR"
          actor {
            provider = cluster
            allow-java-serialization = off
            serializers { strata = "dev.strata.cluster.WireSerializer" }
            serialization-bindings { "dev.strata.cluster.Wire" = strata }
            default-dispatcher.fork-join-executor.minimum-runnable = 8
          }
          remote.artery {
            transport = ${if (tls != null) "tls-tcp" else "tcp"}
            canonical.port = ${s.port}
            advanced.maximum-frame-size = 256 KiB
          }
          cluster {
            downing-provider-class = "org.apache.pekko.cluster.sbr.SplitBrainResolverProvider"
            split-brain-resolver {
              # The oldest level-3 node decides; a crashed oldest node (alone on its side) is downed by the
              # others instead of taking the cluster with it; a level-4 program that dies is downed by the nodes.
              active-strategy = keep-oldest
              keep-oldest.down-if-alone = on
              keep-oldest.role = "l3"
              stable-after = 3s
            }
            failure-detector {
              heartbeat-interval = 500ms
              acceptable-heartbeat-pause = 2s
              expected-response-after = 500ms
            }
            jmx.multi-mbeans-in-same-jvm = on
            log-info = off
          }
          coordinated-shutdown.exit-jvm = off
          coordinated-shutdown.run-by-jvm-shutdown-hook = off
        }
    """.trimIndent()
    var c = ConfigFactory.parseString(hocon)
        .withValue("pekko.remote.artery.canonical.hostname", ConfigValueFactory.fromAnyRef(s.hostname))
        .withValue("pekko.cluster.roles", ConfigValueFactory.fromIterable(s.roles.toList()))
    if (tls != null) {
        val p = "pekko.remote.artery.ssl.config-ssl-engine"
        c = c.withValue("$p.key-store", ConfigValueFactory.fromAnyRef(tls.keyStore.toAbsolutePath().toString()))
            .withValue("$p.key-store-password", ConfigValueFactory.fromAnyRef(tls.keyStorePassword))
            .withValue("$p.key-password", ConfigValueFactory.fromAnyRef(tls.keyPassword))
            .withValue("$p.trust-store", ConfigValueFactory.fromAnyRef(tls.trustStore.toAbsolutePath().toString()))
            .withValue("$p.trust-store-password", ConfigValueFactory.fromAnyRef(tls.trustStorePassword))
            .withValue("$p.protocol", ConfigValueFactory.fromAnyRef("TLSv1.3"))
            .withValue("$p.enabled-algorithms", ConfigValueFactory.fromIterable(listOf("TLS_AES_256_GCM_SHA384", "TLS_AES_128_GCM_SHA256")))
            .withValue("$p.require-mutual-authentication", ConfigValueFactory.fromAnyRef(true))
    }
    return c.withFallback(ConfigFactory.defaultReference())
}
