package dev.strata.samples;

import dev.strata.record.TaskGraph;
import dev.strata.java.Args;
import dev.strata.java.JavaProgram;
import dev.strata.java.JavaWorker;
import dev.strata.java.JavaWorkerBuilder;
import dev.strata.java.RunFuture;
import dev.strata.run.RunStats;
import dev.strata.java.Strata;
import dev.strata.task.TaskCallable;
import dev.strata.tensor.DType;
import dev.strata.tensor.Tensor;
import dev.strata.worker.Isolation;
import java.io.PrintStream;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.function.Consumer;
import dev.strata.samples.SignalKernels;

/**
 * {@code java-pipeline}: a signal pipeline written in plain Java through the facade ({@code dev.strata.java}),
 * checked bit for bit against the same stages run one by one in plain Java.
 *
 * <p>Each frame, on 4 sub workers: {@code generate} fills each chunk of the signal from the frame's seed;
 * {@code smooth} reads its chunk plus one neighbour on each side (views that overlap the neighbouring
 * chunks, so it waits for up to three {@code generate} tasks) and writes a moving average; {@code energy}
 * squares it in place; a group of 4 {@code band sums} reduces row bands; {@code total} adds the bands.
 * Frame 0 runs the program; every later frame replays it, recorded once as a {@link TaskGraph} with the
 * tensors as parameters, after the host wrote the frame's seed. Every stage is a named class, so the same
 * program runs on sub workers that are threads (default) or child JVMs ({@code --isolation process}).
 */
public final class JavaPipelineSample implements Sample {
    /** The sample, as {@code Samples.all} lists it. */
    public static final JavaPipelineSample INSTANCE = new JavaPipelineSample();

    /** Sub workers, and members of the band-sum group. */
    static final int BANDS = 4;

    /** The seed of frame 0; frame f uses {@code FIRST_SEED + f}. */
    static final long FIRST_SEED = 2024;

    private static final TaskCallable GENERATE = new SignalKernels.Generate();
    private static final TaskCallable SMOOTH = new SignalKernels.Smooth();
    private static final TaskCallable ENERGY = new SignalKernels.Energy();
    private static final TaskCallable SUM = new SignalKernels.Sum();

    private JavaPipelineSample() {
    }

    @Override
    public String getName() {
        return "java-pipeline";
    }

    @Override
    public String getDescription() {
        return "a signal pipeline written in plain Java (run, then graph replays) on 4 sub workers, checked bit-exactly";
    }

    @Override
    public int run(List<String> args, PrintStream out) {
        JavaPipelineCli cli = new JavaPipelineCli(); // its options through the samples' shared Clikt command line
        Integer status = cli.parseOrStatus(args, out, System.err);
        if (status != null) return status;
        return run(cli.options(), cli.output(out), energy -> { });
    }

    /**
     * Runs the pipeline with {@code options}; {@code tamper} may alter the engine's energies of the last
     * frame before they are compared (tests use it to prove that a wrong result is reported).
     */
    static int run(Options o, PrintStream out, Consumer<Tensor> tamper) {
        int n = o.size();
        out.printf(Locale.ROOT, "java-pipeline: %d F32 samples in %d chunks, %d frames, %d sub workers (%s)%n",
                n, o.chunks(), o.frames(), BANDS, o.isolation() == Isolation.PROCESS ? "child JVMs" : "threads");
        TaskGraph graph = graph(o);
        out.printf(Locale.ROOT, "  tasks per frame: %d (%d generate, %d smooth, %d energy, a group of %d band sums, 1 total); graph: %d edges%n",
                graph.getSize(), o.chunks(), o.chunks(), o.chunks(), BANDS, graph.getEdgeCount());

        JavaWorkerBuilder builder = Strata.worker(3)
                .subWorkers(BANDS, o.isolation())
                .closeTimeout(Duration.ofSeconds(10));
        if (o.trace() != null) builder.trace(o.trace()); // --trace: a timeline of every frame, written at close
        RunStats last = null;
        try (JavaWorker w = builder.start()) {
            Tensor seed = w.hostTensor("seed", DType.I64, 1);
            Tensor signal = w.hostTensor("signal", DType.F32, n);
            Tensor energy = w.hostTensor("energy", DType.F32, n);
            Tensor bands = w.hostTensor("bands", DType.F32, BANDS);
            Tensor total = w.hostTensor("total", DType.F32, 1);
            Map<String, Tensor> bindings = Map.of("seed", seed, "signal", signal, "energy", energy, "bands", bands, "total", total);

            for (int f = 0; f < o.frames(); f++) {
                long frameSeed = FIRST_SEED + f;
                seed.setLong(0, frameSeed); // between runs: no task of this worker is running
                long start = System.nanoTime();
                RunFuture run = f == 0
                        ? w.submit(p -> program(p, o, seed, signal, energy, bands, total))
                        : w.submit(graph, bindings);
                run.join(); // a failed task would surface as the cause of a CompletionException
                last = run.getStats();
                long nanos = System.nanoTime() - start;
                if (f == o.frames() - 1) tamper.accept(energy);

                Reference expected = Reference.of(frameSeed, n);
                String mismatch = firstMismatch("energy", expected.energy, energy);
                if (mismatch == null) mismatch = firstMismatch("band sums", expected.bands, bands);
                if (mismatch == null) mismatch = firstMismatch("total", new float[] {expected.total}, total);
                if (mismatch != null) {
                    out.println("FAIL: frame " + f + ": the engine's result differs from the sequential one at " + mismatch);
                    return 1;
                }
                out.printf(Locale.ROOT, "  frame %d (%s): total energy %.6f in %.2f ms%n",
                        f, f == 0 ? "program" : "graph replay", total.getFloat(0), nanos / 1e6);
            }
        }
        if (last != null) out.println("  last frame's " + last.summary());
        out.printf(Locale.ROOT, "PASS: %d frames x (%d energies, %d band sums, 1 total) equal the sequential Java result bit for bit%n",
                o.frames(), n, BANDS);
        return 0;
    }

    /**
     * One frame's program: what frame 0 runs and what the graph of the later frames records. The chunks'
     * and bands' bounds are scalars and views, so the same callables serve every chunk.
     */
    static void program(JavaProgram p, Options o, Tensor seed, Tensor signal, Tensor energy, Tensor bands, Tensor total) {
        int n = o.size();
        int chunks = o.chunks();
        for (int c = 0; c < chunks; c++) {
            long lo = bound(n, chunks, c);
            long hi = bound(n, chunks, c + 1);
            p.submit(p.sub(), "generate " + c, Args.of().input(seed).output(signal.slice(0, lo, hi)).scalar(lo), GENERATE);
        }
        for (int c = 0; c < chunks; c++) {
            long lo = bound(n, chunks, c);
            long hi = bound(n, chunks, c + 1);
            long haloLo = Math.max(lo - 1, 0);
            long haloHi = Math.min(hi + 1, n);
            Tensor chunk = energy.slice(0, lo, hi);
            p.submit(p.sub(), "smooth " + c,
                    Args.of().input(signal.slice(0, haloLo, haloHi)).output(chunk).scalar(haloLo).scalar(lo).scalar(n), SMOOTH);
            p.submit(p.sub(), "energy " + c, Args.of().inout(chunk), ENERGY);
        }
        p.submitGroup(p.sub(), BANDS, "band sums",
                m -> Args.of().input(energy.slice(0, bound(n, BANDS, m), bound(n, BANDS, m + 1))).output(bands.slice(0, m, m + 1)),
                SUM);
        p.submit(p.sub(), "total", Args.of().input(bands).output(total), SUM);
    }

    /** The program recorded once, its tensors as parameters; every replay binds the worker's tensors. */
    static TaskGraph graph(Options o) {
        int n = o.size();
        return Strata.taskGraph("java-pipeline", g -> program(g, o,
                g.parameter("seed", DType.I64, 1),
                g.parameter("signal", DType.F32, n),
                g.parameter("energy", DType.F32, n),
                g.parameter("bands", DType.F32, BANDS),
                g.parameter("total", DType.F32, 1)));
    }

    @Override
    public TaskGraph graph(List<String> args) {
        JavaPipelineCli cli = new JavaPipelineCli();
        cli.parseOrThrow(args);
        return graph(cli.options());
    }

    /** Start of part {@code k} of {@code n} elements cut into {@code parts} nearly equal parts. */
    static long bound(long n, int parts, int k) {
        return n * k / parts;
    }

    /** "name[i]: expected x, got y" for the first element that differs in its bits, or null. */
    static String firstMismatch(String name, float[] expected, Tensor actual) {
        for (int i = 0; i < expected.length; i++) {
            float got = actual.getFloat(i);
            if (Float.floatToRawIntBits(got) != Float.floatToRawIntBits(expected[i])) {
                return name + "[" + i + "]: expected " + expected[i] + ", got " + got;
            }
        }
        return null;
    }

    /** The same stages run one by one in plain Java: the result the engine must reproduce exactly. */
    static final class Reference {
        final float[] energy;
        final float[] bands;
        final float total;

        private Reference(float[] energy, float[] bands, float total) {
            this.energy = energy;
            this.bands = bands;
            this.total = total;
        }

        static Reference of(long seed, int n) {
            float[] signal = new float[n];
            for (int i = 0; i < n; i++) signal[i] = SignalKernels.sample(seed, i);
            float[] energy = new float[n];
            for (int i = 0; i < n; i++) {
                float mid = signal[i];
                float left = i > 0 ? signal[i - 1] : mid;
                float right = i < n - 1 ? signal[i + 1] : mid;
                energy[i] = SignalKernels.energy(SignalKernels.smooth(left, mid, right));
            }
            float[] bands = new float[BANDS];
            for (int m = 0; m < BANDS; m++) {
                float acc = 0f;
                for (long i = bound(n, BANDS, m); i < bound(n, BANDS, m + 1); i++) acc += energy[(int) i];
                bands[m] = acc;
            }
            float total = 0f;
            for (float b : bands) total += b;
            return new Reference(energy, bands, total);
        }
    }

    /** Command-line options; {@link JavaPipelineCli} reads them. */
    record Options(int size, int chunks, int frames, Isolation isolation, Path trace) {
        /** Largest signal: its tensors stay well under 1 GiB. */
        static final int MAX_SIZE = 1 << 26;

        /** Options without a trace. */
        Options(int size, int chunks, int frames, Isolation isolation) {
            this(size, chunks, frames, isolation, null);
        }

        Options {
            if (size < BANDS || size > MAX_SIZE) throw new IllegalArgumentException("--size must be in " + BANDS + ".." + MAX_SIZE + ", was " + size);
            if (chunks < 1 || chunks > size) throw new IllegalArgumentException("--chunks must be in 1..size (" + size + "), was " + chunks);
            if (frames < 1 || frames > 10_000) throw new IllegalArgumentException("--frames must be in 1..10000, was " + frames);
        }
    }
}
