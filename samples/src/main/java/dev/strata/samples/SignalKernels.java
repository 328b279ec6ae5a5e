package dev.strata.samples;

import dev.strata.task.TaskCallable;
import dev.strata.task.TaskContext;
import dev.strata.tensor.Tensor;

/**
 * The stages of {@link JavaPipelineSample}: the arithmetic of one element ({@link #sample}, {@link #smooth},
 * {@link #energy}) shared by the engine's kernels and the sequential reference, so both must agree bit for
 * bit, and the kernels themselves.
 *
 * <p>Each kernel is a public static nested class with a public no-arg constructor: a child JVM
 * ({@code --isolation process}) creates it by name. They take positions as scalars, never as captured state.
 */
public final class SignalKernels {
    private SignalKernels() {
    }

    /** Sample {@code i} of the signal of frame {@code seed}: a pseudo-random value in [-1, 1). */
    public static float sample(long seed, long i) {
        long h = (seed * 0x9E3779B97F4A7C15L) ^ (i * 0xC2B2AE3D27D4EB4FL);
        h ^= h >>> 31;
        h *= 0xBF58476D1CE4E5B9L;
        h ^= h >>> 29;
        return (h >>> 40) / (float) (1 << 23) - 1f;
    }

    /** The three-point moving average of {@code left}, {@code mid}, {@code right}. */
    public static float smooth(float left, float mid, float right) {
        return (left + mid + right) / 3f;
    }

    /** The energy of a smoothed sample. */
    public static float energy(float y) {
        return y * y;
    }

    /** Tensor 1 (a chunk of the signal starting at sample scalar 0) = the samples of the seed in tensor 0. */
    public static final class Generate implements TaskCallable {
        @Override
        public void call(TaskContext ctx) {
            long seed = ctx.tensor(0).getLong(0);
            Tensor out = ctx.tensor(1);
            long lo = ctx.scalar(0);
            for (long k = 0; k < out.size(0); k++) out.setFloat(k, sample(seed, lo + k));
        }
    }

    /**
     * Tensor 1 (samples [lo, hi) of the smoothed signal) = the moving average over tensor 0, the signal's
     * samples [haloLo, haloHi) — the chunk plus one neighbour on each side where there is one; the signal's
     * ends repeat their own sample. Scalars: haloLo, lo, n (the signal's length).
     */
    public static final class Smooth implements TaskCallable {
        @Override
        public void call(TaskContext ctx) {
            Tensor halo = ctx.tensor(0);
            Tensor out = ctx.tensor(1);
            long haloLo = ctx.scalar(0);
            long lo = ctx.scalar(1);
            long n = ctx.scalar(2);
            for (long k = 0; k < out.size(0); k++) {
                long i = lo + k;
                float mid = halo.getFloat(i - haloLo);
                float left = i > 0 ? halo.getFloat(i - 1 - haloLo) : mid;
                float right = i < n - 1 ? halo.getFloat(i + 1 - haloLo) : mid;
                out.setFloat(k, smooth(left, mid, right));
            }
        }
    }

    /** Tensor 0 (a chunk of the smoothed signal) = its energy, in place. */
    public static final class Energy implements TaskCallable {
        @Override
        public void call(TaskContext ctx) {
            Tensor y = ctx.tensor(0);
            for (long k = 0; k < y.size(0); k++) y.setFloat(k, energy(y.getFloat(k)));
        }
    }

    /** Tensor 1 (one element) = the sum of tensor 0, in index order. */
    public static final class Sum implements TaskCallable {
        @Override
        public void call(TaskContext ctx) {
            Tensor in = ctx.tensor(0);
            float acc = 0f;
            for (long k = 0; k < in.size(0); k++) acc += in.getFloat(k);
            ctx.tensor(1).setFloat(0, acc);
        }
    }
}
