package dev.strata.worker

import dev.strata.chip.ChipConfig
import dev.strata.chip.CommDomainSpec
import dev.strata.chip.sim.SimCommDomain
import dev.strata.error.CommunicationException
import dev.strata.error.InvalidConfigException
import dev.strata.error.WorkerStartException
import io.github.oshai.kotlinlogging.KotlinLogging
import java.nio.file.Files
import java.nio.file.Path
import java.nio.file.Paths
import java.util.concurrent.CompletableFuture
import java.util.concurrent.TimeUnit
import kotlin.time.Duration

private val log = KotlinLogging.logger {}

/**
 * The communication domains of a worker's chips, as the host brings them up and releases them (issue 14
 * §2): the root info is created on the domain's rank 0 and handed by the host to every member, which
 * joins concurrently; the whole bring-up is bounded, and a failed one is rolled back (members that
 * joined leave again). For a simulated domain the host also maps the domain's file, so that when a member
 * chip fails or dies it can break the domain at once for every peer instead of letting them wait out
 * their timeout. Thread-safe.
 */
internal class HostDomains(
    private val workerPath: String,
    private val chipConfigs: Map<Int, ChipConfig>,
    private val chipPath: (Int) -> String,
    private val port: (Int) -> ChipPort,
) {
    /** A domain that is up: its spec, and for a sim domain the host's handle on its file and the files to remove at the end. */
    private class Live(val spec: CommDomainSpec, val breaker: SimCommDomain?, val files: List<Path>)

    private val live = LinkedHashMap<String, Live>()

    /** Names and specs of the domains that are up, in creation order. */
    val specs: Map<String, CommDomainSpec> get() = synchronized(live) { live.mapValues { it.value.spec } }

    /**
     * Brings up [spec] on its member chips within [timeout]: root info from rank 0, then every member joins
     * at once. Throws [CommunicationException] naming each member that failed ([WorkerStartException]
     * when [atStart]: the worker's configured domains); nothing of the domain is left behind then.
     */
    fun create(spec: CommDomainSpec, timeout: Duration, atStart: Boolean = false) {
        spec.validate(chipConfigs.keys.maxOrNull()?.plus(1) ?: 0)
        val notChips = spec.chips.filter { it !in chipConfigs }
        if (notChips.isNotEmpty()) throw InvalidConfigException(listOf("domain '${spec.name}' names ${notChips.joinToString()}, which are not chips of $workerPath"))
        synchronized(live) {
            if (spec.name in live) throw InvalidConfigException(listOf("domain '${spec.name}' is already up on $workerPath; release it first"))
        }
        val drivers = spec.chips.map { chipConfigs.getValue(it).driver }.distinct()
        if (drivers.size > 1) throw InvalidConfigException(listOf("domain '${spec.name}' mixes chip drivers $drivers; every member needs the same driver"))
        val root = try {
            port(spec.chips[0]).commRootInfo(spec)
        } catch (t: Throwable) {
            throw CommunicationException(spec.name, 0, "creating the root info on ${chipPath(spec.chips[0])} failed: ${t.message}")
        }
        // A simulated domain's root info names its files (drivers built on the sim driver give the same).
        val files = SimCommDomain.filesOf(root)
        val breaker = if (files.isNotEmpty()) runCatching { SimCommDomain.open(spec.name, files[0], 0) }.onFailure { log.warn(it) { "the host cannot map domain '${spec.name}' (${files[0]}): a member's death will not break it at once" } }.getOrNull() else null
        val joins = spec.chips.mapIndexed { rank, chip ->
            CompletableFuture<Unit>().also { f ->
                Thread({
                    try {
                        port(chip).commInit(spec, rank, root, timeout)
                        f.complete(Unit)
                    } catch (t: Throwable) {
                        breaker?.markBroken("${chipPath(chip)} failed to join")
                        f.completeExceptionally(t)
                    }
                }, "strata-domain-${spec.name}-rank$rank-join").apply { isDaemon = true }.start()
            }
        }
        val deadline = System.nanoTime() + timeout.inWholeNanoseconds + JOIN_MARGIN_NANOS
        for (f in joins) runCatching { f.get(maxOf(0, deadline - System.nanoTime()), TimeUnit.NANOSECONDS) }
        val failures = joins.mapIndexedNotNull { rank, f ->
            val chip = spec.chips[rank]
            when {
                !f.isDone -> "rank $rank (${chipPath(chip)}) did not join within $timeout"
                f.isCompletedExceptionally -> "rank $rank (${chipPath(chip)}): " +
                    runCatching { f.get() }.exceptionOrNull()?.let { it.cause ?: it }?.message
                else -> null
            }
        }
        if (failures.isEmpty()) {
            synchronized(live) { live[spec.name] = Live(spec, breaker, files) }
            return
        }
        breaker?.markBroken("the bring-up failed")
        joins.forEachIndexed { rank, f ->
            val chip = spec.chips[rank]
            if (!f.isDone) f.whenComplete { _, e -> if (e == null) runCatching { port(chip).commRelease(spec.name) } }
            else if (!f.isCompletedExceptionally) runCatching { port(chip).commRelease(spec.name) }
        }
        breaker?.close()
        files.forEach { runCatching { Files.deleteIfExists(it) } }
        if (atStart) throw WorkerStartException(workerPath, failures.map { "domain '${spec.name}' $it" })
        throw CommunicationException(
            spec.name, 0,
            "bring-up on $workerPath failed (every member that joined left again):\n  - " + failures.joinToString("\n  - "),
        )
    }

    /** Releases domain [name] on every member (the caller made sure no unfinished run uses it). */
    fun release(name: String) {
        val l = synchronized(live) { live.remove(name) } ?: throw IllegalArgumentException(
            "$workerPath has no domain '$name' up; its domains are ${specs.keys.ifEmpty { setOf("none") }}",
        )
        val failures = l.spec.chips.mapNotNull { chip ->
            runCatching { port(chip).commRelease(name) }.exceptionOrNull()?.let { "${chipPath(chip)}: ${it.message}" }
        }
        l.breaker?.close()
        l.files.forEach { runCatching { Files.deleteIfExists(it) } }
        if (failures.isNotEmpty()) throw CommunicationException(name, 0, "release failed on ${failures.joinToString("; ")}")
    }

    /** Whether domain [name] is up. */
    operator fun contains(name: String): Boolean = synchronized(live) { name in live }

    /** Chip [chip] failed or died: every domain it belongs to breaks, so no peer waits for it until its timeout. */
    fun breakDomainsOf(chip: Int) {
        val ls = synchronized(live) { live.values.filter { chip in it.spec.chips } }
        for (l in ls) l.breaker?.markBroken("${chipPath(chip)} failed or died")
    }

    /** After the chips stopped: unmaps what the host mapped and removes the domains' files. Never throws. */
    fun close() {
        val ls = synchronized(live) { live.values.toList().also { live.clear() } }
        for (l in ls) {
            runCatching { l.breaker?.close() }
            l.files.forEach { f -> runCatching { Files.deleteIfExists(f) }.onFailure { log.warn(it) { "removing $f failed" } } }
        }
    }

    private companion object {
        /** How much longer the host waits than the members' own bound. */
        const val JOIN_MARGIN_NANOS = 5_000_000_000L
    }
}
