package dev.strata.cluster

import kotlinx.coroutines.future.await
import kotlinx.coroutines.runBlocking
import kotlinx.coroutines.withTimeoutOrNull
import org.apache.pekko.actor.typed.ActorRef
import org.apache.pekko.actor.typed.javadsl.AskPattern
import org.apache.pekko.actor.typed.receptionist.Receptionist
import org.apache.pekko.cluster.Member
import org.apache.pekko.cluster.typed.Cluster
import kotlin.time.Duration
import kotlin.time.Duration.Companion.seconds
import kotlin.time.toJavaDuration

/** One member of a cluster as `strata doctor --cluster` reports it. */
public data class MemberReport(
    val address: String,
    val roles: Set<String>,
    val status: String,
    val reachable: Boolean,
    /** What its level-3 node said of itself, if it serves one and answered. */
    val node: NodeInfo?,
)

/**
 * `strata doctor --cluster HOST:PORT`: joins the cluster at [seed] as a short-lived `observer`, lists its
 * members (address, roles, status, reachability) and asks every level-3 node to describe itself, then
 * leaves. Every wait is bounded by [timeout]; throws [IllegalStateException] naming the seed when it
 * cannot join.
 */
public object ClusterProbe {
    public fun members(seed: String, timeout: Duration = 20.seconds, tls: ClusterTls? = null): List<MemberReport> {
        val observer = ClusterNode.start(NodeSettings(seeds = listOf(seed), roles = setOf(NodeSettings.ROLE_OBSERVER), tls = tls, joinTimeout = timeout), null)
        try {
            val system = observer.system
            val ask = timeout.div(2).toJavaDuration()
            val nodes: List<ActorRef<NodeCommand>> = runBlocking {
                withTimeoutOrNull(timeout) {
                    // Receptionist entries replicate a little after members are Up: ask until the l3 members are listed.
                    val wanted = { Cluster.get(system).state().members.count { it.hasRole(NodeSettings.ROLE_L3) } }
                    var found: Set<ActorRef<NodeCommand>> = emptySet()
                    while (true) {
                        val listing = AskPattern.ask(
                            system.receptionist(), { r: ActorRef<Receptionist.Listing> -> Receptionist.find(L3_NODES, r) }, ask, system.scheduler(),
                        ).await()
                        found = listing.getServiceInstances(L3_NODES)
                        if (found.size >= wanted()) break
                        kotlinx.coroutines.delay(50)
                    }
                    found.toList()
                } ?: emptyList()
            }
            val infos: Map<String, NodeInfo> = runBlocking {
                nodes.mapNotNull { ref ->
                    withTimeoutOrNull(timeout / 2) {
                        AskPattern.ask(ref, { r: ActorRef<NodeInfo> -> Describe(r) }, ask, system.scheduler()).await()
                    }
                }.associateBy { it.address }
            }
            val state = Cluster.get(system).state()
            val unreachable = state.unreachable.map { it.address().toString() }.toSet()
            val self = Cluster.get(system).selfMember().address()
            return state.members.filter { it.address() != self }
                .map { m: Member ->
                    val a = m.address().toString()
                    MemberReport(a, m.roles.filter { !it.startsWith("dc-") }.toSet(), m.status().toString(), a !in unreachable, infos[a])
                }
                .sortedBy { it.address }
        } finally {
            observer.close(5.seconds)
        }
    }
}
