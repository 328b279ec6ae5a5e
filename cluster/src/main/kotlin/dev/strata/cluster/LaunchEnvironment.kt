package dev.strata.cluster

/**
 * A node started by a launcher users already have (Slurm `srun`, Open MPI or MPICH `mpirun`, or any
 * script that sets `STRATA_RANK`): its [rank] among [size] processes, and the host of rank 0 — the
 * cluster's seed — when the launcher's environment says it ([seedHost]; else `STRATA_SEED_HOST`).
 */
public data class Launch(val launcher: String, val rank: Int, val size: Int, val seedHost: String?, val seedPort: Int) {
    /** `host:port` of the seed, or null when the environment does not name its host. */
    public val seed: String? get() = seedHost?.let { "$it:$seedPort" }
}

/** Reads a launcher's rank and host environment (see [Launch]). */
public object LaunchEnvironment {
    /** The seed's port when `STRATA_SEED_PORT` does not say: rank 0 binds it, the others join it. */
    public const val DEFAULT_SEED_PORT: Int = 25520

    /**
     * The launch described by [env], or null when no launcher set a rank. Checked in order: `STRATA_RANK`
     * (with `STRATA_SIZE`), Slurm (`SLURM_PROCID`, `SLURM_NTASKS`; the seed is the first host of
     * `SLURM_JOB_NODELIST`), Open MPI (`OMPI_COMM_WORLD_RANK`, `OMPI_COMM_WORLD_SIZE`), MPICH / Hydra
     * (`PMI_RANK`, `PMI_SIZE`). `STRATA_SEED_HOST` and `STRATA_SEED_PORT` override the seed's host and port.
     * Throws [IllegalArgumentException] naming the variable when one is malformed.
     */
    public fun detect(env: Map<String, String> = System.getenv()): Launch? {
        fun int(name: String): Int? = env[name]?.let { v -> v.trim().toIntOrNull() ?: throw IllegalArgumentException("$name='$v' is not a whole number") }
        val port = int("STRATA_SEED_PORT") ?: DEFAULT_SEED_PORT
        require(port in 1..65535) { "STRATA_SEED_PORT must be in 1..65535, was $port" }
        val override = env["STRATA_SEED_HOST"]?.takeIf { it.isNotBlank() }
        val (launcher, rank, size, host) = when {
            env["STRATA_RANK"] != null -> Quad("strata", int("STRATA_RANK")!!, int("STRATA_SIZE") ?: 0, null)
            env["SLURM_PROCID"] != null -> Quad(
                "slurm", int("SLURM_PROCID")!!, int("SLURM_NTASKS") ?: 0,
                (env["SLURM_JOB_NODELIST"] ?: env["SLURM_NODELIST"])?.let { firstHost(it) },
            )
            env["OMPI_COMM_WORLD_RANK"] != null -> Quad("openmpi", int("OMPI_COMM_WORLD_RANK")!!, int("OMPI_COMM_WORLD_SIZE") ?: 0, null)
            env["PMI_RANK"] != null -> Quad("pmi", int("PMI_RANK")!!, int("PMI_SIZE") ?: 0, null)
            else -> return null
        }
        require(rank >= 0) { "the $launcher rank must be >= 0, was $rank" }
        return Launch(launcher, rank, size, override ?: host, port)
    }

    /**
     * The first host of a Slurm host list: `node[01-04,07],gpu3` → `node01`; `rack[3-4]-n[1-2]` → `rack3-n1`;
     * `a,b` → `a`; `h` → `h`.
     */
    public fun firstHost(nodelist: String): String {
        val s = nodelist.trim()
        require(s.isNotEmpty()) { "an empty Slurm node list" }
        val bracket = s.indexOf('[')
        val comma = s.indexOf(',')
        if (bracket < 0 || (comma in 0 until bracket)) return if (comma < 0) s else s.substring(0, comma)
        val close = s.indexOf(']', bracket)
        require(close > bracket) { "Slurm node list '$nodelist' has an unclosed '['" }
        val first = s.substring(bracket + 1, close).substringBefore(',').substringBefore('-')
        val rest = s.substring(close + 1)
        return s.substring(0, bracket) + first + if (rest.isEmpty() || rest.startsWith(",")) "" else firstHost(rest)
    }

    private data class Quad(val launcher: String, val rank: Int, val size: Int, val host: String?)
}
