package dev.strata.cli

import com.github.ajalt.clikt.core.CliktCommand
import com.github.ajalt.clikt.core.Context
import com.github.ajalt.clikt.core.ProgramResult
import com.github.ajalt.clikt.parameters.options.default
import com.github.ajalt.clikt.parameters.options.flag
import com.github.ajalt.clikt.parameters.options.option
import com.github.ajalt.clikt.parameters.types.choice
import com.github.ajalt.clikt.parameters.types.int
import com.github.ajalt.clikt.parameters.types.path
import com.github.ajalt.clikt.parameters.types.restrictTo
import dev.strata.chip.ChipConfig
import dev.strata.cluster.ClusterNode
import dev.strata.cluster.ClusterTls
import dev.strata.cluster.LaunchEnvironment
import dev.strata.cluster.NodeSettings

/**
 * `strata node (--seed | --join HOST:PORT)`: a level-3 worker that joins a Strata cluster and stays until
 * the process is told to stop (SIGINT, SIGTERM), then leaves the cluster cleanly. [onStarted] sees the
 * running node (tests stop it through it).
 */
internal class NodeCommand(
    private val console: Console,
    private val env: Map<String, String> = System.getenv(),
    private val onStarted: (ClusterNode) -> Unit = {},
) : CliktCommand("node") {
    override fun help(context: Context): String =
        "Start a level-3 node of a Strata cluster: --seed starts a new cluster, --join HOST:PORT joins one. " +
            "Under a launcher (srun, mpirun, or STRATA_RANK) neither is needed: rank 0 is the seed on the first host " +
            "(STRATA_SEED_HOST / STRATA_SEED_PORT override it, default port ${LaunchEnvironment.DEFAULT_SEED_PORT}) and the others join it. " +
            "Binds 127.0.0.1 unless --host is given, which needs mutual TLS (--tls-keystore, --tls-truststore)."

    private val seed by option("--seed", help = "start a new cluster (this node is its first member)").flag()
    private val join by option("--join", metavar = "HOST:PORT", help = "join the cluster a member at HOST:PORT belongs to")
    private val hostOption by option("--host", help = "address to bind and advertise (default 127.0.0.1; a launcher's rank 0: the seed host)")
    private val host: String get() = hostOption ?: NodeSettings.LOOPBACK
    private val hostGiven: Boolean get() = hostOption != null
    private val port by option("--port", help = "port (default 0: any free one, the node prints its address; a launcher's rank 0: the seed port)").int().restrictTo(0..65535)
    private val subWorkers by option("--sub-workers", help = "host sub workers of the node's level-3 worker (default 2)").int().restrictTo(0..256).default(2)
    private val chips by option("--chips", help = "chips of the node (default 0)").int().restrictTo(0..16).default(0)
    private val driver by option("--driver", help = "the chips' driver: sim (default) or acl").choice(ChipConfig.SIM, ChipConfig.ACL).default(ChipConfig.SIM)
    private val keyStore by option("--tls-keystore", help = "PKCS12 keystore with this node's key (mutual TLS)").path(mustExist = true)
    private val trustStore by option("--tls-truststore", help = "PKCS12 truststore with the certificates this node accepts").path(mustExist = true)
    private val tlsPassword by option("--tls-password", envvar = "STRATA_TLS_PASSWORD", help = "password of both stores (or STRATA_TLS_PASSWORD)")

    override fun run() {
        val launch = if (!seed && join == null) {
            try {
                LaunchEnvironment.detect(env)
            } catch (e: IllegalArgumentException) {
                console.err.println("strata node: ${e.message}")
                throw ProgramResult(2)
            }
        } else {
            null
        }
        if (launch == null && seed == (join != null)) {
            console.err.println("strata node: give exactly one of --seed and --join HOST:PORT (or start it under srun, mpirun or with STRATA_RANK set)")
            throw ProgramResult(2)
        }
        val launchSeed = launch?.seed
        if (launch != null && launchSeed == null) {
            console.err.println(
                "strata node: ${launch.launcher} rank ${launch.rank}: the environment does not name the seed's host; set STRATA_SEED_HOST " +
                    "(e.g. mpirun -x STRATA_SEED_HOST=<host of rank 0>)",
            )
            throw ProgramResult(2)
        }
        val isSeed = seed || launch?.rank == 0
        val joinAddress = join ?: launchSeed.takeIf { launch != null && launch.rank != 0 }
        val bindHost = if (launch?.rank == 0 && host == NodeSettings.LOOPBACK && !hostGiven) launch.seedHost!! else host
        val bindPort = port ?: if (launch?.rank == 0) launch.seedPort else 0
        val tls = if (keyStore == null && trustStore == null) null else {
            val k = keyStore
            val t = trustStore
            val p = tlsPassword
            if (k == null || t == null || p == null) {
                console.err.println("strata node: mutual TLS needs --tls-keystore, --tls-truststore and --tls-password (or STRATA_TLS_PASSWORD)")
                throw ProgramResult(2)
            }
            ClusterTls(k, p, t, p)
        }
        val settings = NodeSettings(hostname = bindHost, port = bindPort, seeds = listOfNotNull(joinAddress), tls = tls)
        val node = ClusterNode.start(settings, ClusterNode.nodeWorker(subWorkers, chips, driver))
        val hook = Thread({ node.close() }, "strata-node-shutdown")
        Runtime.getRuntime().addShutdownHook(hook)
        val how = when {
            launch != null -> "${launch.launcher} rank ${launch.rank}${if (launch.size > 0) " of ${launch.size}" else ""}, " +
                if (isSeed) "the seed of a new cluster" else "joined $joinAddress"
            isSeed -> "a new cluster"
            else -> "joined $joinAddress"
        }
        console.out.println("strata node: ${node.address} is Up ($how); $subWorkers sub workers, $chips chips")
        console.out.println("strata node: other nodes join with --join ${node.hostPort}; stop with Ctrl-C")
        console.out.flush()
        onStarted(node)
        node.awaitTermination()
        node.close()
        runCatching { Runtime.getRuntime().removeShutdownHook(hook) }
    }
}
