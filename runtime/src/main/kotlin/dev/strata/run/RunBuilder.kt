package dev.strata.run

import dev.strata.graph.HeapRings
import dev.strata.graph.TaskWindow
import java.util.concurrent.atomic.AtomicLong
import dev.strata.graph.Scope
import dev.strata.graph.Task
import dev.strata.trace.TaskTimes
import dev.strata.graph.TaskState
import dev.strata.graph.TensorMap
import dev.strata.task.TaskArgs
import dev.strata.task.TaskCallable
import dev.strata.task.Target
import dev.strata.tensor.Access
import dev.strata.tensor.AddressSpace
import dev.strata.tensor.Buffer
import dev.strata.tensor.DType
import dev.strata.tensor.Tensor
import dev.strata.tensor.bytesOf
import dev.strata.error.InvalidSubmitException
import dev.strata.error.ScopeException
import dev.strata.graph.Run
import dev.strata.task.Gate
import dev.strata.task.Orchestrator

/**
 * What a run's builder tells the scheduler (which implements it): a task is ready, a task was published
 * poisoned, a run's build is over. Any thread; each call only posts an event.
 */
internal interface ReadyQueue {
    /** [task] has nothing left to wait for: queue it for a worker. */
    fun ready(task: Task)

    /** [task] was published poisoned: skip it and whatever waits on it. */
    fun skipPoisoned(task: Task)

    /** [run]'s build ended and nothing of it is left pending: finish it. */
    fun runArrived(run: Run)
}

/**
 * Checks that a callable can run on every target in `targets`: a target in a child process needs a
 * callable with a stable name. Returns its id among the worker's named callables (-1 when no target is
 * a child process); throws `InvalidCallableException` when it has no stable name.
 */
internal fun interface CallableAdmission {
    fun admit(callable: TaskCallable, targets: Array<Target>): Int
}

/**
 * Builds one run's DAG on the thread that runs its program (the `Orchestrator` a program is given).
 *
 * **One thread.** Everything here runs on the program's thread (checked at every call): the scopes,
 * the run's TensorMap and the task being built are confined to it. A submit that must wait for a slot
 * or heap bytes suspends the program's coroutine under back-pressure; it never blocks another thread.
 *
 * **A submit, in order:** fail fast if the run already failed; admit the callable (a child JVM needs a
 * stable name); validate the arguments (every problem at once); erase the TensorMap entries of tasks
 * consumed meanwhile; take a slot; create the [Task] (BUILDING) and register it with its scope; let the
 * TensorMap report each earlier task it must follow and [attach][Task.attach] it to each (under the
 * producer's monitor, so a producer finishing on another thread either releases it or is seen finished);
 * hold scope allocations it reads; then [publish][Task.publish]: ready tasks go to the [ReadyQueue],
 * poisoned ones are skipped there, the rest wait for their last producer.
 *
 * **References.** A task holds one reference for its scope, one per consumer and one for itself; the
 * thread that drops the last one has the [TaskWindow] consume it (slot and bytes back). A scope's end drops
 * its references and never waits.
 *
 * **The build's end** ([closeBuild]) ends the outer scopes and takes the build's own unit off
 * `Run.pending`; the run finishes when its tasks are terminal too (see `Scheduler`, "How a run finishes").
 *
 * **Replay** ([replay], the engine's one replay entry) submits a recorded plan without validation or
 * inference, a chunk of tasks at a time (see there).
 */
internal class RunBuilder(val run: Run, private val parts: Parts) : Orchestrator, TensorMap.DependencySink<Task> {
    /** What a worker gives each of its runs' builders: the shared pieces a build uses directly. */
    class Parts(
        val window: TaskWindow,
        val heapRings: HeapRings,
        val queue: ReadyQueue,
        val validation: SubmitValidation,
        val callables: CallableAdmission,
        /** The worker's task numbers (ids in messages), shared by its runs. */
        val taskIds: AtomicLong,
    )

    private val window = parts.window
    private val queue = parts.queue

    private val scopes = ArrayList<Scope>().apply { add(Scope(0)) }
    private val thread: Thread = Thread.currentThread()
    private var building: Task? = null
    private var closed = false

    override val runId: Long get() = run.id

    override suspend fun submit(target: Target, callable: TaskCallable, args: TaskArgs, name: String?) {
        submitTask(arrayOf(target), arrayOf(args), callable, name)
    }

    override suspend fun submitGroup(targets: List<Target>, callable: TaskCallable, members: List<TaskArgs>, name: String?) {
        require(targets.size == members.size) {
            "a group needs one target per member: ${targets.size} targets for ${members.size} members"
        }
        submitTask(targets.toTypedArray(), members.toTypedArray(), callable, name)
    }

    private suspend fun submitTask(targets: Array<Target>, members: Array<TaskArgs>, callable: TaskCallable, name: String?) {
        checkUsable()
        run.firstError.get()?.let { throw it } // fail fast: the run already failed
        val taskName = name ?: callableName(callable)
        val callableId = parts.callables.admit(callable, targets)
        parts.validation.validate(targets, members).onLeft { problems ->
            val subject = "task '$taskName' -> " + (if (targets.size == 1) "${targets[0]}" else "group of ${targets.size}")
            throw InvalidSubmitException(subject, problems)
        }
        drainConsumed()
        takeSlot()
        val t = Task(parts.taskIds.incrementAndGet(), run, taskName, callable, targets, members)
        t.callableId = callableId
        // Counted here and published to the run now and then (the run's fields share cache lines that endpoint
        // threads read for every task: a write per submit would make each of those reads a miss).
        if (++submitted and PUBLISH_EVERY_MASK == 0L) run.submitted = submitted
        if (run.trace != null) traced(t)
        run.pending.incrementAndGet()
        scopes.last().register(t)
        building = t
        try {
            run.tensorMap.infer(t, members, this)
            if (gatesInEffect.isNotEmpty()) for (g in gatesInEffect) dependOn(g.task)
            holdScopeAllocations(t, members)
        } finally {
            building = null
        }
        publish(t)
    }

    /** [t] belongs to a traced run: it carries its times, and the window's occupancy is a counter. Kept out of line (the untraced path stays small). */
    private fun traced(t: Task) {
        t.times = TaskTimes(System.nanoTime())
        run.trace?.counter("task window", (window.capacity - window.free).toLong())
    }

    /** Attaches the task being built to [producer] (called by the TensorMap). */
    override fun dependOn(producer: Task) {
        val consumer = building!!
        if (producer.lastConsumerId == consumer.id) return // already attached through another argument
        producer.lastConsumerId = consumer.id
        producer.attach(consumer)
        retain(consumer, producer)
    }

    /**
     * Tasks using bytes from `alloc` hold the allocation until they are terminal; tasks using device memory
     * are recorded as its users until then (freeing it meanwhile is refused).
     */
    private fun holdScopeAllocations(t: Task, members: Array<TaskArgs>) {
        for (m in members) for (i in 0 until m.tensorCount) {
            val buffer = m.tensor(i).buffer
            buffer.users?.let { users ->
                if (users.add(t)) (t.deviceBuffers ?: ArrayList<Buffer>(2).also { t.deviceBuffers = it }).add(buffer)
            }
            val owner = buffer.owner as Task? ?: continue
            if (owner.lastConsumerId == t.id) continue
            owner.lastConsumerId = t.id
            retain(t, owner)
        }
    }

    private fun retain(consumer: Task, producer: Task) {
        if (producer.tryRetain()) (consumer.producers ?: ArrayList<Task>(2).also { consumer.producers = it }).add(producer)
    }

    private fun publish(t: Task) {
        when (t.publish()) {
            Task.Publish.POISONED -> queue.skipPoisoned(t) // keeps its build guard: it never becomes ready
            Task.Publish.READY -> queue.ready(t)
            Task.Publish.WAITING -> Unit
        }
    }

    /**
     * Submits [replay]'s graph: one task per node, each following the recorded producers — no validation
     * per task (the replay checked its bindings once) and no dependency inference.
     *
     * Tasks are built [REPLAY_CHUNK] at a time and published together: within a chunk, a task's consumers
     * are attached before it can run, so a worker that finishes it runs the next one at once (the
     * successor hand-off) instead of each task going through the scheduler, and the builder and the
     * workers touch different tasks. A replayed task holds no scope reference past its last recorded
     * consumer, so a graph of any length streams through the task window.
     */
    suspend fun replay(replay: ReplaySource) {
        checkUsable()
        val plan = replay.plan
        val n = plan.size
        // Node i's task while it still holds its scope reference (null once dropped).
        val tasks = arrayOfNulls<Task>(n)
        val callableIds = replay.callableIds
        val producers = plan.producers
        val producerStart = plan.producerStart
        val lastConsumer = plan.lastConsumer
        // Scratch and gates of this replay, made afresh before its tasks (held by the outer scope until the build ends).
        val scratch = Array(plan.scratchBytes.size) { k -> allocate(plan.scratchBytes[k]).also { replay.bindScratch(k, it.allocBuffer!!) } }
        val scratchUse = plan.scratchUse
        val gates = if (plan.gateNames.isEmpty()) null else Array(plan.gateNames.size) { newGate(plan.gateNames[it]) }
        val gateDeps = plan.gateDeps
        if (gates != null) {
            run.opensRecordedGates = true
            replay.gatesMade(run, gates)
        }
        var from = 0
        var built = 0
        try {
            while (from < n) {
                if (run.failed) run.firstError.get()?.let { throw it }
                val end = minOf(n, from + REPLAY_CHUNK)
                var credit = window.tryAcquireUpTo(end - from) // the chunk's slots in one step when they are free
                try {
                    while (built < end) {
                        val i = built
                        if (credit > 0) {
                            credit--
                        } else if (!window.tryAcquire()) {
                            // Out of slots: publish what this chunk built (and let go of what it no longer needs) before
                            // waiting, or the wait could be for a slot that only this chunk's publication frees.
                            if (built > from) break
                            backPressure { window.acquire() }
                        }
                        val t = Task(parts.taskIds.incrementAndGet(), run, plan.names[i], plan.callables[i], plan.targets[i], replay.members(i))
                        t.callableId = callableIds[plan.callableIndex[i]]
                        if (run.trace != null) t.times = TaskTimes(System.nanoTime())
                        building = t
                        for (k in producerStart[i] until producerStart[i + 1]) {
                            val p = producers[k]
                            dependOn(tasks[p]!!)
                        }
                        if (gates != null) gateDeps[i]?.let { gs -> for (g in gs) dependOn(gates[g].task) }
                        scratchUse[i]?.let { ks -> for (k in ks) retain(t, scratch[k]) } // the scratch outlives every task using it
                        building = null
                        tasks[built++] = t
                    }
                } finally {
                    // Even when back-pressure gave up half-way: what was built is published (and skipped if the run failed).
                    if (credit > 0) window.release(credit)
                    run.pending.addAndGet((built - from).toLong())
                    submitted += built - from
                    run.submitted = submitted
                    run.trace?.counter("task window", (window.capacity - window.free).toLong())
                    for (k in from until built) publish(tasks[k]!!)
                }
                // A replayed task is followed only by the nodes the graph records, so it needs no scope reference
                // (which would hold its slot until the run's scope ends) once the last of them is attached: the
                // graph streams through the task window, however long it is.
                for (k in from until built) {
                    for (j in producerStart[k] until producerStart[k + 1]) if (lastConsumer[producers[j]] == k) dropScopeReference(tasks, producers[j])
                    if (lastConsumer[k] < 0) dropScopeReference(tasks, k)
                }
                from = built
            }
        } finally {
            // Given up half-way: the built tasks whose last consumer never came let go now.
            for (k in 0 until built) if (tasks[k] != null) dropScopeReference(tasks, k)
        }
    }

    /** Drops the scope reference of replayed node [i] (consuming it if that was the last reference). */
    private fun dropScopeReference(tasks: Array<Task?>, i: Int) {
        val t = tasks[i] ?: return
        tasks[i] = null
        if (t.release()) window.consume(t)
    }

    private val gatesInEffect = ArrayList<GateImpl>()

    override suspend fun gate(name: String): Gate {
        checkUsable()
        run.firstError.get()?.let { throw it }
        return newGate(name)
    }

    private suspend fun newGate(name: String): GateImpl {
        drainConsumed()
        takeSlot()
        val t = Task(parts.taskIds.incrementAndGet(), run, "gate '$name'", GATE_CALLABLE, emptyArray(), emptyArray())
        run.pending.incrementAndGet()
        scopes.last().register(t)
        run.gatesMade++
        t.holdAsGate() // never published: its build guard stays until open()
        run.gates += t
        return GateImpl(name, t, parts)
    }

    override suspend fun <T> after(gate: Gate, block: suspend Orchestrator.() -> T): T {
        checkUsable()
        val g = gate as? GateImpl ?: throw IllegalArgumentException("$gate was not made by Orchestrator.gate")
        require(g.task.run === run) { "gate '${g.name}' belongs to run #${g.task.run.id}, not to run #${run.id}" }
        gatesInEffect += g
        try {
            return block()
        } finally {
            gatesInEffect.removeAt(gatesInEffect.lastIndex)
        }
    }

    private class GateImpl(override val name: String, val task: Task, private val parts: Parts) : Gate {
        override val isOpen: Boolean get() = task.state != TaskState.PENDING

        override fun open() {
            val consumers = task.openGate() ?: return
            task.run.gatesDone.incrementAndGet()
            for (c in consumers) if (c.releaseFanin()) parts.queue.ready(c)
            if (task.release()) parts.window.consume(task)
            if (task.run.arrive()) parts.queue.runArrived(task.run)
        }

        override fun toString(): String = "Gate($name, ${if (isOpen) "open" else "closed"})"
    }

    override suspend fun alloc(dtype: DType, vararg shape: Long): Tensor {
        checkUsable()
        run.firstError.get()?.let { throw it }
        val bytes = bytesOf(dtype, shape, "alloc in run #${run.id}")
        return allocate(bytes).allocBuffer!!.tensor(dtype, *shape)
    }

    /** [bytes] of the heap ring for the current scope, held by an alloc slot (registered with the scope) that is returned. */
    private suspend fun allocate(bytes: Long): Task {
        drainConsumed()
        takeSlot()
        val (ring, allocation) = try {
            parts.heapRings.tryAllocate(scopes.size - 1, bytes) ?: backPressure { parts.heapRings.allocate(scopes.size - 1, bytes) }
        } catch (t: Throwable) {
            window.release()
            throw t
        }
        val id = parts.taskIds.incrementAndGet()
        val slot = Task(id, run, "alloc#$id", null, emptyArray(), emptyArray())
        slot.initAllocSlot()
        slot.allocation = allocation
        slot.allocRing = ring
        val buffer = Buffer(bytes, AddressSpace.Host, Access.READ_WRITE, "alloc#$id", allocation.segment, ring.sharedPath, allocation.offset)
        buffer.owner = slot
        slot.allocBuffer = buffer
        scopes.last().register(slot)
        run.trace?.counter("heap ring ${ring.index} bytes", ring.used)
        return slot
    }

    override suspend fun <T> scope(block: suspend Orchestrator.() -> T): T {
        checkUsable()
        if (scopes.size > Scope.MAX_DEPTH) {
            throw ScopeException(
                "scopes nest deeper than ${Scope.MAX_DEPTH} levels in run #${run.id}; flatten the program " +
                    "(a scope per loop iteration, not per recursion level)",
            )
        }
        val s = Scope(scopes.size)
        scopes += s
        try {
            return block()
        } finally {
            scopes.removeAt(scopes.lastIndex)
            s.end(window::consume)
        }
    }

    /** Ends the run's outer scope and the build; the run finishes once its tasks are terminal. */
    fun closeBuild() {
        if (closed) return
        closed = true
        run.submitted = submitted
        while (scopes.isNotEmpty()) scopes.removeAt(scopes.lastIndex).end(window::consume)
        run.building = false
        run.consumed.clear()
        if (run.arrive()) queue.runArrived(run)
    }

    private fun drainConsumed() {
        while (true) run.tensorMap.erase(run.consumed.poll() ?: return)
    }

    /** A task slot: at once when one is free (the common case costs no allocation), else under back-pressure. */
    private suspend inline fun takeSlot() {
        if (!window.tryAcquire()) backPressure { window.acquire() }
    }

    /** Runs [wait] (a wait for room) and adds its time to the run's back-pressure time. */
    private suspend inline fun <T> backPressure(wait: () -> T): T {
        val start = System.nanoTime()
        try {
            return wait()
        } finally {
            run.backPressureNanos += System.nanoTime() - start
        }
    }

    private fun checkUsable() {
        check(!closed) { "run #${run.id} is no longer building: its Orchestrator was used after the program returned" }
        check(Thread.currentThread() === thread) {
            "run #${run.id}'s Orchestrator was used from thread '${Thread.currentThread().name}'; submit only from the " +
                "program's own coroutine (do not switch dispatchers inside a program)"
        }
    }

    /** Tasks submitted so far; [Run.submitted] is brought up to it every [PUBLISH_EVERY_MASK] + 1 tasks and at the end. */
    private var submitted = 0L

    private companion object {
        const val PUBLISH_EVERY_MASK = 255L

        /** Tasks of a replay built before any of them is published. */
        const val REPLAY_CHUNK = 64

        val GATE_CALLABLE = TaskCallable { error("a gate is never dispatched") }

        fun callableName(c: TaskCallable): String {
            val n = c.javaClass.name
            return n.substringAfterLast('.').ifEmpty { n }
        }
    }
}
