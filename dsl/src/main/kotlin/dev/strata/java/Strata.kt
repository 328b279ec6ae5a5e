package dev.strata.java

import dev.strata.task.Runner
import dev.strata.dsl.WorkerBuilder
import dev.strata.record.TaskGraph
import dev.strata.task.FunctionCallable
import dev.strata.task.TaskCallable
import dev.strata.worker.Worker
import java.util.concurrent.CompletableFuture
import java.util.function.Consumer

/**
 * Strata for plain Java: builders instead of the Kotlin DSL's lambdas with receivers, a
 * `CompletableFuture` per run, `java.time.Duration` settings, and workers that are `AutoCloseable`.
 * The facade is a thin layer over the same engine and the same builders as the Kotlin DSL: it adds no
 * behaviour of its own.
 *
 * ```java
 * import dev.strata.java.*;
 * import dev.strata.tensor.*;
 * import dev.strata.worker.Isolation;
 *
 * try (JavaWorker w = Strata.worker(3).subWorkers(2, Isolation.THREAD).start()) {
 *     Tensor a = w.hostTensor(DType.F32, 1024);
 *     Tensor b = w.hostTensor(DType.F32, 1024);
 *     w.run(p -> {
 *         p.submit(p.sub(), "fill", Args.of().output(a), ctx -> ctx.tensor(0).fill(1f));
 *         p.submit(p.sub(), "double", Args.of().input(a).output(b), ctx -> {      // runs after "fill"
 *             for (long i = 0; i < 1024; i++) ctx.tensor(1).setFloat(i, 2 * ctx.tensor(0).getFloat(i));
 *         });
 *     });
 *     CompletableFuture<Void> next = w.submit(p -> p.submit(p.sub(), "clear", Args.of().output(a), ctx -> ctx.tensor(0).fill(0f)));
 *     next.join(); // a failed task surfaces as the cause of a CompletionException
 * }
 * ```
 *
 * Callables sent to child JVMs ([dev.strata.worker.Isolation.PROCESS]) cross by name: use a public
 * class (top level or `static` nested) with a public no-arg constructor, an `enum` whose constant is
 * `INSTANCE`, or a static method through [callable]. Lambdas work on threads only.
 */
public object Strata {
    /**
     * A builder for a worker at [level] (2 chip, 3 node, 4 pod, 5–6 above); nothing starts before
     * [JavaWorkerBuilder.start].
     */
    @JvmStatic
    public fun worker(level: Int): JavaWorkerBuilder = JavaWorkerBuilder(WorkerBuilder(level))

    /** A builder for a level-3 (node) worker. */
    @JvmStatic
    public fun worker(): JavaWorkerBuilder = worker(3)

    /**
     * Runs [program] on [worker], a worker this code does not own — typically a chip task's level-2
     * engine, `ctx.getWorker()`, whose cores the program addresses as `p.core(i)` — and waits for it;
     * throws the run's first error. See [JavaWorker.run].
     */
    @JvmStatic
    public fun run(worker: Runner, program: Consumer<JavaProgram>): Unit = RunFutures.run(worker, program)

    /** Starts a run of [program] on [worker] and returns its future; see [JavaWorker.submit]. */
    @JvmStatic
    public fun submit(worker: Worker, program: Consumer<JavaProgram>): CompletableFuture<Void?> =
        RunFutures.submit(worker, program)

    /**
     * Records [program] into a [TaskGraph] named [name] without running it; replay it with
     * [JavaWorker.run]`(graph, bindings)`. Dependencies are inferred once, here. The program declares the
     * tensors a replay binds with [JavaGraphBuilder.parameter]; other tensors it uses belong to the graph.
     *
     * @throws dev.strata.error.InvalidSubmitException for a malformed submit, as a run would.
     */
    @JvmStatic
    public fun taskGraph(name: String, program: Consumer<JavaGraphBuilder>): TaskGraph =
        TaskGraph.record(name) {
            val g = JavaGraphBuilder(this)
            try {
                program.accept(g)
            } finally {
                g.close()
            }
        }

    /**
     * A chip callable that runs [kernel] with the task's arguments on the chip's first core:
     * `p.submit(p.chip(0), "add", Args.of().input(x).output(y), Strata.kernel(new VectorAdd()))`.
     */
    @JvmStatic
    public fun kernel(kernel: TaskCallable): TaskCallable = dev.strata.chip.kernel(kernel)

    /** [kernel] on the first core of type [coreType] (e.g. `aic`). */
    @JvmStatic
    public fun kernel(kernel: TaskCallable, coreType: String): TaskCallable = dev.strata.chip.kernel(kernel, coreType)

    /**
     * The static method [method]`(TaskContext)` of [owner] as a callable that child JVMs find by name:
     * `Strata.callable(Kernels.class, "scale")`. Throws [IllegalArgumentException] if there is no such method.
     */
    @JvmStatic
    public fun callable(owner: Class<*>, method: String): TaskCallable = FunctionCallable.of(owner.name, method)
}
