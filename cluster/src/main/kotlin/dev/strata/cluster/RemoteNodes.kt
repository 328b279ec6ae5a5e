package dev.strata.cluster

import dev.strata.dsl.WorkerBuilder
import kotlin.time.Duration
import kotlin.time.Duration.Companion.seconds

/**
 * Adds the level-3 node at [hostPort] (`./strata node` on another host, or this one) as this level-4
 * worker's next next-level child: `submit(node(i), …)` then runs there like on any other child. The
 * node is reached through the process's shared [ClusterClient] (joined through [hostPort] on first use;
 * [settings] give its TLS), which closes itself when the workers that use it closed.
 *
 * ```
 * worker(level = 4) { remoteNode("127.0.0.1:25520"); remoteNode("127.0.0.1:25521") }.use { l4 -> … }
 * ```
 */
public fun WorkerBuilder.remoteNode(hostPort: String, settings: NodeSettings = NodeSettings(), timeout: Duration = 20.seconds) {
    nextLevel(ClusterClient.shared(hostPort, settings).remoteNode(hostPort, timeout))
}

/**
 * Adds the first [count] level-3 nodes of the cluster that [seed] (`host:port` of any member) belongs to,
 * sorted by address, as this level-4 worker's next next-level children: discovery by role instead of
 * addresses. Waits at most [timeout] for that many nodes to be listed.
 */
public fun WorkerBuilder.remoteNodes(seed: String, count: Int, settings: NodeSettings = NodeSettings(), timeout: Duration = 20.seconds) {
    nextLevel(*ClusterClient.shared(seed, settings).remoteNodes(count, timeout).toTypedArray())
}
