package dev.strata.bench.jmh;

import dev.strata.bench.DispatchWorkloads;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

/**
 * Latency of {@code worker.run {}} with one no-op sub task (DESIGN.md §10 goal: at most 5 µs in-process).
 * Sample mode gives the distribution (p50, p90, p99); the same figure as {@code run_1task_us} of
 * {@code ./strata bench dispatch}.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.SampleTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Fork(value = 1, jvmArgsAppend = {"--enable-native-access=ALL-UNNAMED"})
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
public class DispatchLatencyBenchmark {
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

    /** One {@code worker.run} with one no-op task on a sub worker. */
    @Benchmark
    public void runOneTask() {
        workloads.runOneTask();
    }
}
