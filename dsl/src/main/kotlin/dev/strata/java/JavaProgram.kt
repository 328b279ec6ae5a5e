package dev.strata.java

import dev.strata.task.Gate
import dev.strata.task.Orchestrator
import dev.strata.task.TaskCallable
import dev.strata.task.Target
import dev.strata.tensor.DType
import dev.strata.tensor.Tensor
import kotlinx.coroutines.runBlocking
import java.util.function.Consumer
import java.util.function.IntFunction
import dev.strata.task.TaskArgs

/**
 * A run's program as Java sees it: what the `Consumer` given to [JavaWorker.submit] / [JavaWorker.run]
 * receives to build the run's task DAG. It is the engine's [Orchestrator] without suspending functions.
 *
 * ```java
 * worker.run(p -> {
 *     p.submit(p.sub(), "fill", Args.of().output(a), ctx -> ctx.tensor(0).fill(1f));
 *     p.submit(p.sub(), "copy", Args.of().input(a).output(b), new CopyKernel());  // waits for "fill"
 * });
 * ```
 *
 * Guarantees (those of [Orchestrator]):
 * - tasks leave memory as if they ran one by one in submission order: every dependency is inferred from
 *   the [Args] tags and the tensors' footprints;
 * - every `submit` validates its arguments first and throws [dev.strata.error.InvalidSubmitException]
 *   listing every problem; once a task of the run failed, a `submit` throws that task's error at once;
 * - `submit` and [alloc] **block the calling thread** while the task window (or the heap ring) is full
 *   (back-pressure) and throw [dev.strata.error.BackPressureTimeoutException] if nothing is released within
 *   the worker's `backPressureTimeout`.
 *
 * Valid only inside the program it was given to and only on the thread running that program: a use from
 * another thread (a task, an executor) or after the program returned throws [IllegalStateException].
 */
public open class JavaProgram internal constructor(internal val orchestrator: Orchestrator) {
    private val thread: Thread = Thread.currentThread()

    @Volatile
    private var open = true

    /** The run's sequence number in its worker (0 while recording a graph). */
    public fun runId(): Long = orchestrator.runId

    // --- targets --------------------------------------------------------------------------------

    /** Any idle host sub worker of the pool. */
    public fun sub(): Target = Target.Sub

    /** Chip [index] of a level-3 worker (its next-level child [index]). */
    public fun chip(index: Int): Target = Target.Next(index)

    /** Core [index] of a chip, in a level-2 program (`Strata.run(ctx.getWorker(), p -> …)` in a chip task). */
    public fun core(index: Int): Target = Target.Next(index)

    /** Node [index] of a level-4 worker (its next-level child [index]). */
    public fun node(index: Int): Target = Target.Next(index)

    /** The next-level child [index], whatever its level. */
    public fun next(index: Int): Target = Target.Next(index)

    // --- building -------------------------------------------------------------------------------

    /**
     * Submits a task that runs [callable] with [args] on [target]; [name] appears in errors (null: the
     * callable's class name). Returns once the task is in the DAG (it may already be running). On a
     * process-isolated target [callable] must be loadable by name in the child JVM: a public class with a
     * public no-arg constructor, an enum constant `INSTANCE`, or [Strata.callable] — not a lambda.
     */
    public fun submit(target: Target, name: String?, args: Args, callable: TaskCallable) {
        val taskArgs = args.toTaskArgs()
        bridge { submit(target, callable, taskArgs, name) }
    }

    /** [submit] of a task without arguments. */
    public fun submit(target: Target, name: String?, callable: TaskCallable) {
        bridge { submit(target, callable, TaskArgs.EMPTY, name) }
    }

    /**
     * Submits a group task of [size] members on [target] (usually [sub]: distinct sub workers), all
     * dispatched at once when enough are idle. Member `i` gets `args.apply(i)` and sees
     * `ctx.getMemberIndex() == i`. The group completes when every member is terminal; its first member
     * failure is its failure.
     */
    public fun submitGroup(target: Target, size: Int, name: String?, args: IntFunction<Args>, callable: TaskCallable) {
        require(size > 0) { "a group needs at least one member, was $size" }
        val members = List(size) { args.apply(it).toTaskArgs() }
        bridge { submitGroup(List(size) { target }, callable, members, name) }
    }

    /** A group task with one member per target in [targets] (distinct next-level children); see [submitGroup]. */
    public fun submitGroup(targets: List<Target>, name: String?, args: IntFunction<Args>, callable: TaskCallable) {
        val members = List(targets.size) { args.apply(it).toTaskArgs() }
        bridge { submitGroup(targets.toList(), callable, members, name) }
    }

    /**
     * A zeroed host tensor whose bytes belong to the innermost [scope]: they are given back once that scope
     * ended and every task using them finished. Blocks while the heap ring is full (see the class comment).
     */
    public fun alloc(dtype: DType, vararg shape: Long): Tensor = bridge { alloc(dtype, *shape) }

    /**
     * Runs [body] in a nested scope (at most 64 deep): the tasks it submits release their scope
     * reference when it returns, so their slots are reclaimed as soon as they finish. Wrap loops in
     * scopes to keep a small task window flowing. Ending a scope never waits and never throws task errors.
     */
    public fun scope(body: Consumer<JavaProgram>) {
        bridge { scope { body.accept(this@JavaProgram) } }
    }

    /**
     * A dependency that code outside the DAG satisfies: tasks submitted inside [after] wait until
     * [Gate.open] is called from any thread. The run is not done while a gate is closed.
     */
    public fun gate(name: String): Gate = bridge { gate(name) }

    /** Runs [body]; every task it submits also waits for [gate] to open. */
    public fun after(gate: Gate, body: Consumer<JavaProgram>) {
        bridge { after(gate) { body.accept(this@JavaProgram) } }
    }

    /**
     * Calls a suspending [Orchestrator] function from Java. The program runs on its caller's thread under
     * `runBlocking` (see `Worker.submit`); a nested `runBlocking` on that same thread shares its event loop,
     * so a submit that suspends under back-pressure parks this thread and resumes on it once the
     * scheduler releases a slot — the orchestrator stays confined to the program's thread.
     */
    private inline fun <T> bridge(crossinline call: suspend Orchestrator.() -> T): T {
        checkUsable()
        return runBlocking { orchestrator.call() }
    }

    internal fun checkUsable() {
        check(open) {
            "this JavaProgram (run #${orchestrator.runId}) was used after its program returned; use it only inside " +
                "the Consumer given to submit/run"
        }
        check(Thread.currentThread() === thread) {
            "this JavaProgram (run #${orchestrator.runId}) was used from thread '${Thread.currentThread().name}', but its " +
                "program runs on '${thread.name}'; call it only from the program's own thread (not from tasks, " +
                "executors or callbacks)"
        }
    }

    /** The program returned: later uses throw. */
    internal fun close() {
        open = false
    }

    override fun toString(): String = "JavaProgram(run #${orchestrator.runId})"
}
