package dev.strata.bench.jmh;

import dev.strata.bench.DispatchWorkloads;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OperationsPerInvocation;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

/**
 * Task throughput of the dispatch paths, in tasks per second (one operation = one task): independent
 * tasks (no arguments, one own output buffer each, or one own slice of a shared buffer each), a chain (each task INOUT on one tensor, so each depends
 * on the one before: DESIGN.md §10 goal at least 1,000,000 dependent tasks/s in-process) and deps2 (each
 * task reads the outputs of the two before it), and graphReplay: the deps2 DAG recorded once as a
 * {@code TaskGraph} and replayed with its parameter bound each run (issue 5 goal: at least 3x deps2).
 * Each invocation submits {@link #TASKS} tasks as pipelined runs of {@link DispatchWorkloads#DEFAULT_BATCH}.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
@Fork(value = 1, jvmArgsAppend = {"--enable-native-access=ALL-UNNAMED"})
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 5, time = 2)
public class DispatchThroughputBenchmark {
    /** Tasks per benchmark invocation. */
    public static final int TASKS = 20_000;

    /** Tasks per invocation of {@link #independentSlices()}. */
    public static final int SLICE_TASKS = 2_000;

    @Param({"4"})
    public int workers;

    private DispatchWorkloads workloads;

    @Setup(Level.Trial)
    public void setup() {
        workloads = new DispatchWorkloads(workers);
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        workloads.close();
    }

    @Benchmark
    @OperationsPerInvocation(TASKS)
    public int independentNoArgs() {
        return workloads.independentNoArgs(TASKS);
    }

    @Benchmark
    @OperationsPerInvocation(TASKS)
    public int independent() {
        return workloads.independent(TASKS);
    }

    /**
     * Independent tasks each writing its own 1-byte slice of one buffer (the tiling pattern, which stresses
     * the TensorMap's per-buffer index); it runs {@link #SLICE_TASKS} tasks per invocation.
     */
    @Benchmark
    @OperationsPerInvocation(SLICE_TASKS)
    public int independentSlices() {
        return workloads.independentSlices(SLICE_TASKS);
    }

    @Benchmark
    @OperationsPerInvocation(TASKS)
    public int chain() {
        return workloads.chain(TASKS);
    }

    @Benchmark
    @OperationsPerInvocation(TASKS)
    public int deps2() {
        return workloads.deps2(TASKS);
    }

    @Benchmark
    @OperationsPerInvocation(TASKS)
    public int graphReplay() {
        return workloads.graphReplay(TASKS);
    }
}
