package dev.strata.schedule

import dev.strata.run.RunHandle
import dev.strata.endpoint.Dispatch
import dev.strata.endpoint.Endpoint
import dev.strata.graph.MemberState
import dev.strata.graph.Task
import dev.strata.graph.TaskState
import dev.strata.graph.Run
import dev.strata.error.TaskFailedException
import dev.strata.task.TaskArgs
import dev.strata.task.TaskCallable
import dev.strata.task.TaskContext
import dev.strata.task.Target
import io.kotest.assertions.throwables.shouldThrow
import io.kotest.core.spec.style.FunSpec
import io.kotest.matchers.collections.shouldContainExactly
import io.kotest.matchers.shouldBe
import io.kotest.matchers.string.shouldContain
import java.util.concurrent.ConcurrentLinkedQueue
import java.util.concurrent.ExecutorService
import java.util.concurrent.Executors
import java.util.concurrent.atomic.AtomicInteger
import java.util.concurrent.atomic.AtomicLong
import kotlin.time.Duration.Companion.seconds

/**
 * The scheduler driven directly with fake endpoints, for failures a real in-process worker cannot
 * produce on demand: an endpoint that refuses a dispatch (a dead child). Tasks are wired by hand the
 * way the orchestrator wires them (fan-in guard, fan-out lists, one pending count per task).
 */
class SchedulerFaultSpec : FunSpec({
    timeout = 60_000L

    test("a group member whose endpoint refuses the dispatch fails the group; members not yet dispatched are SKIPPED") {
        Harness(next = listOf(false, true, false)).use { h ->
            val ran = ConcurrentLinkedQueue<Int>()
            val run = h.newRun()
            val group = h.task(run, "trio", List(3) { Target.Next(it) }) { ctx -> ran += ctx.memberIndex }
            val dependent = h.task(run, "after-trio", listOf(Target.Next(0))) { ran += 100 }
            h.dependsOn(dependent, group)
            h.publish(group, dependent)
            h.finishBuild(run)

            run.handle.join(10.seconds) shouldBe true
            group.memberStates.toList() shouldContainExactly listOf(MemberState.SUCCEEDED, MemberState.FAILED, MemberState.SKIPPED)
            group.state shouldBe TaskState.FAILED
            dependent.state shouldBe TaskState.SKIPPED
            dependent.memberStates.toList() shouldContainExactly listOf(MemberState.SKIPPED)
            ran.toList() shouldContainExactly listOf(0) // member 2 and the dependent never ran
            h.next[2].dispatched.get() shouldBe 0
            val e = shouldThrow<TaskFailedException> { run.handle.result() }
            e.workerPath shouldBe "fake next#1"
            e.taskName shouldBe "trio"
            e.errorClass shouldBe "java.lang.IllegalStateException"
            e.errorMessage!! shouldContain "refuses"
        }
    }

    test("a dead next-level child fails only the tasks sent to it; the next run on healthy children succeeds") {
        Harness(next = listOf(false, true)).use { h ->
            val run = h.newRun()
            val ok = h.task(run, "ok", listOf(Target.Next(0))) { }
            val dead = h.task(run, "to-dead", listOf(Target.Next(1))) { }
            h.publish(ok, dead)
            h.finishBuild(run)
            run.handle.join(10.seconds) shouldBe true
            dead.state shouldBe TaskState.FAILED
            shouldThrow<TaskFailedException> { run.handle.result() }.workerPath shouldBe "fake next#1"

            val next = h.newRun()
            val again = h.task(next, "again", listOf(Target.Next(0))) { }
            h.publish(again)
            h.finishBuild(next)
            next.handle.result(10.seconds)
            again.state shouldBe TaskState.COMPLETED
        }
    }

    test("dependents of a failed task are SKIPPED transitively and never dispatched") {
        Harness(subs = 2).use { h ->
            val ran = ConcurrentLinkedQueue<String>()
            val run = h.newRun()
            val a = h.task(run, "a", listOf(Target.Sub)) { throw IllegalStateException("a failed") }
            val b = h.task(run, "b", listOf(Target.Sub)) { ran += "b" }
            val c = h.task(run, "c", listOf(Target.Sub)) { ran += "c" }
            h.dependsOn(b, a)
            h.dependsOn(c, b)
            h.publish(a, b, c)
            h.finishBuild(run)
            run.handle.join(10.seconds) shouldBe true
            a.state shouldBe TaskState.FAILED
            b.state shouldBe TaskState.SKIPPED
            c.state shouldBe TaskState.SKIPPED
            ran.toList() shouldBe emptyList()
            shouldThrow<TaskFailedException> { run.handle.result() }.errorMessage shouldBe "a failed"
        }
    }
})

/** An endpoint that runs dispatches on its own thread, or — when [refuses] — throws on every dispatch. */
private class FakeEndpoint(override val path: String, override val index: Int, private val refuses: Boolean) : Endpoint {
    val dispatched = AtomicInteger()
    override val running: Dispatch? get() = null
    override val runningSinceNanos: Long get() = 0
    override val lastProgressNanos: Long get() = 0
    override fun stop(dispatch: Dispatch, reason: dev.strata.endpoint.StopReason) = Unit
    private lateinit var onDone: (Dispatch) -> Dispatch?
    private val executor: ExecutorService = Executors.newSingleThreadExecutor { r -> Thread(r, "fake-$path").apply { isDaemon = true } }

    override fun start(onDone: (Dispatch) -> Dispatch?) {
        this.onDone = onDone
    }

    override fun dispatch(dispatch: Dispatch) {
        check(!refuses) { "$path refuses every dispatch (a dead child)" }
        dispatched.incrementAndGet()
        executor.execute {
            var d: Dispatch? = dispatch
            while (d != null) {
                val task = d.task
                try {
                    task.callable!!.call(TaskContext(task.members[d.member], d.member, task.members.size, path, null))
                } catch (t: Throwable) {
                    d.error = TaskFailedException.of(path, task.id, task.name, t)
                }
                d = onDone(d) // a successor handed back runs here too
            }
        }
    }

    override fun ownsCurrentThread(): Boolean = Thread.currentThread().name == "fake-$path"

    override fun close(timeoutMillis: Long) {
        executor.shutdownNow()
    }
}

/** A [Scheduler] over fake endpoints, with the orchestrator's wiring done by hand. */
/** The public view of [this] run, as a worker hands it out. */
private val Run.handle: RunHandle get() = RunHandle(this, 0)

private class Harness(subs: Int = 0, next: List<Boolean> = emptyList()) : AutoCloseable, Scheduler.Hooks {
    val subs = Array(subs) { FakeEndpoint("fake sub#$it", it, refuses = false) }
    val next = Array(next.size) { FakeEndpoint("fake next#$it", it, refuses = next[it]) }
    private val ids = AtomicLong()
    private val scheduler = Scheduler("fake", arrayOf<Endpoint>(*this.subs), arrayOf<Endpoint>(*this.next), this).also { it.start() }

    fun newRun(): Run = Run(ids.incrementAndGet()) { scheduler.runFailed(it) }.also { scheduler.admit(it) }

    fun task(run: Run, name: String, targets: List<Target>, body: TaskCallable): Task =
        Task(ids.incrementAndGet(), run, name, body, targets.toTypedArray(), Array(targets.size) { TaskArgs.EMPTY })
            .also { run.pending.incrementAndGet() }

    /** [consumer] waits for [producer] (what the TensorMap would infer). */
    fun dependsOn(consumer: Task, producer: Task) {
        producer.attach(consumer)
    }

    /** Publishes tasks in order as the orchestrator does: skip if poisoned meanwhile, else release the build guard. */
    fun publish(vararg tasks: Task) {
        for (t in tasks) {
            when (t.publish()) {
                Task.Publish.POISONED -> scheduler.skipPoisoned(t)
                Task.Publish.READY -> scheduler.ready(t)
                Task.Publish.WAITING -> Unit
            }
        }
    }

    fun finishBuild(run: Run) {
        if (run.arrive()) scheduler.runArrived(run)
    }

    override fun consume(task: Task) = Unit

    override fun runFinished(run: Run) {
        run.complete()
    }

    override fun close() {
        scheduler.stop(1_000)
        for (e in subs) e.close()
        for (e in next) e.close()
    }
}
