package dev.strata.samples

import dev.strata.dsl.sub
import dev.strata.dsl.submit
import dev.strata.dsl.submitGroup
import dev.strata.dsl.worker
import dev.strata.samples.PipelineStages.BANDS
import dev.strata.record.TaskGraph
import dev.strata.task.Orchestrator
import dev.strata.task.TaskCallable
import dev.strata.task.TaskContext
import dev.strata.tensor.DType
import dev.strata.tensor.Tensor
import dev.strata.worker.Isolation
import com.github.ajalt.clikt.core.UsageError
import com.github.ajalt.clikt.parameters.options.default
import com.github.ajalt.clikt.parameters.options.option
import com.github.ajalt.clikt.parameters.types.choice
import com.github.ajalt.clikt.parameters.types.int
import com.github.ajalt.clikt.parameters.types.restrictTo
import java.io.PrintStream
import java.nio.file.Path
import dev.strata.run.RunStats

/**
 * `pipeline`: a multi-stage host pipeline over overlapping views of a 2-D grid on 4 sub workers, checked
 * bit for bit against the same stages run one by one in plain Kotlin.
 *
 * Each step, in its own `scope { }`:
 * - (a) **stencil**: one task per tile reads its tile plus a 1-cell halo of the source grid (INPUT views
 *   that overlap their neighbours') and writes its tile of a temporary grid from `alloc` (OUTPUT);
 * - (b) **transpose**: one task per tile reads a tile of the temporary grid and writes the transposed,
 *   scaled and biased tile into the destination grid (OUTPUT).
 *
 * Source and destination swap every step, so the engine must infer read-after-write (a stencil reads
 * up to 9 transposes of the step before), write-after-read (a transpose overwrites bytes that the
 * stencils of the step before read) and write-after-write (every other step writes the same grid).
 * A final group task of 4 members sums row bands of the result.
 *
 * The kernels are `object`s that take their coordinates as scalars, so the same program runs on sub
 * workers that are threads (default) or child JVMs (`--isolation process`).
 */
public object PipelineSample : Sample {
    override val name: String = "pipeline"
    override val description: String =
        "tiled stencil + transpose over overlapping views on 4 sub workers, checked bit-exactly against a sequential run"

    /** Sub workers of the pool; also the band-sum group's size. */
    private const val WORKERS = BANDS

    override fun run(args: List<String>, out: PrintStream): Int {
        val cli = PipelineCli()
        cli.parseOrStatus(args, out)?.let { return it }
        return run(cli.options, cli.output(out))
    }

    /**
     * Runs the pipeline with [options]; [tamper] may alter the engine's final grid before the comparison
     * (tests use it to prove that a wrong result is reported).
     */
    internal fun run(options: PipelineOptions, out: PrintStream, tamper: (Tensor) -> Unit = {}): Int {
        val n = options.size
        out.println(
            "pipeline: ${n}x$n F32 grid, ${options.steps} steps, ${options.tiles}x${options.tiles} tiles, " +
                "$WORKERS sub workers (${if (options.isolation == Isolation.PROCESS) "child JVMs" else "threads"})",
        )
        // Run both paths once first: the wall times below are then those of a warm JVM (the first run of
        // each spends most of its time in the interpreter and the JIT compiler).
        val cold = runOnEngine(options.copy(trace = null)) // the trace (--trace) is of the measured run
        PipelineStages.sequential(n, options.steps)

        val engine = runOnEngine(options)
        tamper(engine.grid)

        val seqStart = System.nanoTime()
        val expected = PipelineStages.sequential(n, options.steps)
        val seqNanos = System.nanoTime() - seqStart

        val tileTasks = 2L * options.steps * options.tiles * options.tiles
        out.println("  stages: ${2 * options.steps + 1} (stencil -> transpose per step, then band sums)")
        out.println("  tasks: ${tileTasks + 1} ($tileTasks tile tasks + 1 group task of $BANDS)")
        out.println(
            "  wall: engine ${millis(engine.nanos)} ms (DAG built in ${millis(engine.buildNanos)} ms while it ran), " +
                "sequential ${millis(seqNanos)} ms; first engine run (cold JVM) ${millis(cold.nanos)} ms",
        )
        out.println("  ${engine.stats.summary()}")

        val mismatch = GridMismatch.first("grid", expected.grid, engine.grid.toFloatArray(), n)
            ?: GridMismatch.first("band sums", expected.bandSums, engine.bandSums.toFloatArray(), BANDS)
        if (mismatch != null) {
            out.println("FAIL: the engine's result differs from the sequential one at $mismatch")
            return 1
        }
        out.println("PASS: ${n.toLong() * n} elements and $BANDS band sums equal the sequential result bit for bit")
        return 0
    }

    private class EngineResult(val grid: Tensor, val bandSums: Tensor, val nanos: Long, val buildNanos: Long, val stats: RunStats)

    private fun runOnEngine(options: PipelineOptions): EngineResult {
        val n = options.size
        val gridBytes = 4L * n * n
        val tiles = PipelineStages.tiles(n, options.tiles, options.tiles)
        val bands = PipelineStages.tiles(n, BANDS, 1)
        // Two temporaries in flight let step k+1's stencils start while step k's transposes finish.
        worker(level = 3) {
            options.trace?.let { trace(it) }
            subWorkers(WORKERS, options.isolation)
            heapRingBytes = maxOf(heapRingBytes, 2 * gridBytes + 4096)
        }.use { w ->
            val a = w.hostTensor(DType.F32, n.toLong(), n.toLong(), label = "grid A")
            val b = w.hostTensor(DType.F32, n.toLong(), n.toLong(), label = "grid B")
            val sums = w.hostTensor(DType.F32, BANDS.toLong(), label = "band sums")
            for (r in 0 until n) for (c in 0 until n) a.setFloat(r.toLong(), c.toLong(), PipelineStages.initial(r, c))
            val result = if (options.steps % 2 == 0) a else b

            val start = System.nanoTime()
            val handle = w.submit { program(options, a, b, sums) }
            val built = System.nanoTime() // submit returns once the program has built the whole DAG
            handle.result()
            return EngineResult(result, sums, System.nanoTime() - start, built - start, handle.stats)
        }
    }

    /**
     * The pipeline's program over grids [a], [b] and the band sums: what a run executes and what
     * `./strata graph pipeline` records (its temporaries come from `alloc`, so the graph is for looking
     * at, not for replay).
     */
    internal suspend fun Orchestrator.program(options: PipelineOptions, a: Tensor, b: Tensor, sums: Tensor) {
        val n = options.size
        val tiles = PipelineStages.tiles(n, options.tiles, options.tiles)
        val bands = PipelineStages.tiles(n, BANDS, 1)
        val result = if (options.steps % 2 == 0) a else b
        for (step in 0 until options.steps) {
            val src = if (step % 2 == 0) a else b
            val dst = if (step % 2 == 0) b else a
            scope {
                val tmp = alloc(DType.F32, n.toLong(), n.toLong())
                for (t in tiles) {
                    val halo = t.halo(n)
                    submit(sub, "stencil s$step $t", {
                        input(halo.of(src)); output(t.of(tmp))
                        scalar(halo.row0); scalar(halo.col0); scalar(t.row0); scalar(t.col0); scalar(n)
                    }, StencilKernel)
                }
                for (t in tiles) {
                    submit(sub, "transpose s$step $t", {
                        input(t.of(tmp)); output(t.transposedOf(dst))
                        scalar(t.row0); scalar(t.col0); scalar(step)
                    }, TransposeKernel)
                }
            }
        }
        submitGroup(
            sub, BANDS,
            { m -> input(bands[m].of(result)); output(sums.slice(0, m.toLong(), m + 1L)) },
            "band sums",
            BandSumKernel,
        )
    }

    override fun graph(args: List<String>): TaskGraph {
        val o = PipelineCli().also { it.parseOrThrow(args) }.options
        val n = o.size.toLong()
        return TaskGraph.record("pipeline") {
            program(o, parameter("grid A", DType.F32, n, n), parameter("grid B", DType.F32, n, n), parameter("band sums", DType.F32, BANDS.toLong()))
        }
    }

    private fun millis(nanos: Long): String = "%.1f".format(nanos / 1e6)
}

/** Stencil of one tile: scalars halo row0, halo col0, tile row0, tile col0, grid side. */
internal object StencilKernel : TaskCallable {
    override fun call(context: TaskContext) {
        PipelineStages.stencilTile(
            context.tensor(0), context.scalar(0).toInt(), context.scalar(1).toInt(),
            context.tensor(1), context.scalar(2).toInt(), context.scalar(3).toInt(), context.scalar(4).toInt(),
        )
    }
}

/** Transpose of one tile: scalars tile row0, tile col0, step. */
internal object TransposeKernel : TaskCallable {
    override fun call(context: TaskContext) {
        PipelineStages.transposeTile(context.tensor(0), context.scalar(0).toInt(), context.scalar(1).toInt(), context.tensor(1), context.scalar(2).toInt())
    }
}

/** Sum of one row band into a one-element output. */
internal object BandSumKernel : TaskCallable {
    override fun call(context: TaskContext) {
        context.tensor(1).setFloat(0, PipelineStages.bandSum(context.tensor(0)))
    }
}

/** Command-line options of [PipelineSample]. */
internal data class PipelineOptions(
    val size: Int = 512,
    val steps: Int = 8,
    val tiles: Int = 8,
    val isolation: Isolation = Isolation.THREAD,
    /** Where to write a timeline of the measured run (`--trace`), or null. */
    val trace: Path? = null,
) {
    init {
        require(size in PipelineStages.BANDS..MAX_SIZE) { "--size must be in ${PipelineStages.BANDS}..$MAX_SIZE, was $size" }
        require(steps >= 1) { "--steps must be >= 1, was $steps" }
        require(tiles in 1..size) { "--tiles must be in 1..size ($size), was $tiles" }
    }

    companion object {
        /** Largest grid side: two grids plus two temporaries stay well under 1 GiB. */
        const val MAX_SIZE = 4096
    }
}

/** The pipeline sample's command line (`strata run pipeline --help`; `--name=value` works too). */
internal class PipelineCli : LaunchOptions("strata run pipeline", PipelineSample.description) {
    private val size by option("--size", help = "grid side, ${PipelineStages.BANDS}..${PipelineOptions.MAX_SIZE} (default 512)")
        .int().restrictTo(PipelineStages.BANDS..PipelineOptions.MAX_SIZE).default(512)
    private val steps by option("--steps", help = "stencil steps (default 8)").int().restrictTo(min = 1).default(8)
    private val tiles by option("--tiles", help = "tiles per side, 1..size (default 8, or size when smaller)").int().restrictTo(min = 1)
    private val isolation by option("--isolation", help = "where sub workers run: thread (default) or process (child JVMs)")
        .choice("thread" to Isolation.THREAD, "process" to Isolation.PROCESS).default(Isolation.THREAD)

    override fun run() {
        val t = tiles ?: return
        if (t > size) throw UsageError("--tiles must be in 1..size ($size), was $t")
    }

    /** The parsed options. */
    val options: PipelineOptions get() = PipelineOptions(size, steps, tiles ?: minOf(8, size), isolation, trace)
}
