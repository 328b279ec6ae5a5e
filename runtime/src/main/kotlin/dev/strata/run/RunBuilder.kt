package dev.strata.run

import dev.strata.graph.HeapRing
import dev.strata.graph.Scope
import dev.strata.graph.Task
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
import dev.strata.error.InvalidSubmitException
import dev.strata.error.ScopeException
import dev.strata.graph.Run
import dev.strata.task.Gate
import dev.strata.task.Orchestrator

/** What the orchestrator needs from its worker. */
internal interface Engine {
    val validation: SubmitValidation
    fun nextTaskId(): Long
    /** Takes a task slot if one is free now, without suspending (and without a continuation to allocate). */
    fun tryAcquireSlot(): Boolean

    /** Takes as many free task slots as there are now, up to [max], in one step; returns how many. */
    fun tryAcquireSlots(max: Int): Int

    /** Takes a task slot, suspending under back-pressure; throws [dev.strata.error.BackPressureTimeoutException]. */
    suspend fun acquireSlot()
    fun releaseSlot() = releaseSlots(1)
    fun releaseSlots(n: Int)
    /** Allocates from the heap ring of [depth], suspending under back-pressure. */
    suspend fun allocate(depth: Int, bytes: Long): Pair<HeapRing, HeapRing.Allocation>
    fun consume(task: Task)
    fun publishReady(task: Task)
    fun skipPoisoned(task: Task)
    fun runArrived(run: Run)
    /**
     * Checks that [callable] can run on every target in [targets]: a target in a child process needs a
     * callable with a stable name. Returns its id among the worker's named callables (-1 when no target
     * is a child process); throws [dev.strata.error.InvalidCallableException] when it has no stable name.
     */
    fun admitCallable(callable: TaskCallable, targets: Array<Target>): Int = -1
}

/**
 * Builds one run's DAG on the thread that runs its program: validation, fail-fast, slot allocation,
 * dependency inference through the run's TensorMap, scope references, publication to the scheduler.
 */
internal class RunBuilder(private val engine: Engine, val run: Run) : Orchestrator, TensorMap.DependencySink {
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
        val callableId = engine.admitCallable(callable, targets)
        engine.validation.validate(targets, members).onLeft { problems ->
            val subject = "task '$taskName' -> " + (if (targets.size == 1) "${targets[0]}" else "group of ${targets.size}")
            throw InvalidSubmitException(subject, problems)
        }
        drainConsumed()
        takeSlot()
        val t = Task(engine.nextTaskId(), run, taskName, callable, targets, members)
        t.callableId = callableId
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

    /** Attaches the task being built to [producer] (called by the TensorMap). */
    override fun dependOn(producer: Task) {
        val consumer = building!!
        if (producer.lastConsumerId == consumer.id) return // already attached through another argument
        producer.lastConsumerId = consumer.id
        synchronized(producer) {
            when (producer.state) {
                TaskState.FAILED, TaskState.SKIPPED -> consumer.poisoned = true
                TaskState.COMPLETED, TaskState.CONSUMED -> Unit // already done: nothing to wait for
                else -> {
                    (producer.fanout ?: ArrayList<Task>(2).also { producer.fanout = it }).add(consumer)
                    consumer.addFanin()
                }
            }
        }
        retain(consumer, producer)
    }

    /** Tasks using bytes from `alloc` hold the allocation until they are terminal. */
    private fun holdScopeAllocations(t: Task, members: Array<TaskArgs>) {
        for (m in members) for (i in 0 until m.tensorCount) {
            val owner = m.tensor(i).buffer.owner as Task? ?: continue
            if (owner.lastConsumerId == t.id) continue
            owner.lastConsumerId = t.id
            retain(t, owner)
        }
    }

    private fun retain(consumer: Task, producer: Task) {
        if (producer.tryRetain()) (consumer.producers ?: ArrayList<Task>(2).also { consumer.producers = it }).add(producer)
    }

    private fun publish(t: Task) {
        val poisoned: Boolean
        synchronized(t) {
            poisoned = t.poisoned || run.failed
            t.state = TaskState.PENDING
        }
        if (poisoned) {
            engine.skipPoisoned(t) // keeps its build guard: it never becomes ready
        } else if (t.releaseFanin()) {
            engine.publishReady(t)
        }
    }

    /**
     * Submits [replay]'s graph: one task per node, each following the recorded producers — no validation
     * per task (the replay checked its bindings once) and no dependency inference.
     *
     * Tasks are built [REPLAY_CHUNK] at a time and published together: within a chunk, a task's consumers
     * are attached before it can run, so a worker that finishes it runs the next one at once (the
     * successor hand-off) instead of each task going through the scheduler, and the builder and the
     * workers touch different tasks.
     */
    suspend fun replay(replay: ReplaySource) {
        checkUsable()
        val plan = replay.plan
        val n = plan.size
        val tasks = arrayOfNulls<Task>(n)
        val callableIds = replay.callableIds
        val producers = plan.producers
        val producerStart = plan.producerStart
        val scope = scopes.last()
        scope.reserve(n)
        var from = 0
        while (from < n) {
            if (run.failed) run.firstError.get()?.let { throw it }
            val end = minOf(n, from + REPLAY_CHUNK)
            var credit = engine.tryAcquireSlots(end - from) // the chunk's slots in one step when they are free
            var built = from
            try {
                while (built < end) {
                    val i = built
                    if (credit > 0) credit-- else takeSlot()
                    val t = Task(engine.nextTaskId(), run, plan.names[i], plan.callables[i], plan.targets[i], replay.members(i))
                    t.callableId = callableIds[plan.callableIndex[i]]
                    scope.register(t)
                    building = t
                    for (k in producerStart[i] until producerStart[i + 1]) {
                        val p = producers[k]
                        if (p >= from) attachUnpublished(t, tasks[p]!!) else dependOn(tasks[p]!!)
                    }
                    building = null
                    tasks[built++] = t
                }
            } finally {
                // Even when back-pressure gave up half-way: what was built is published (and skipped if the run failed).
                if (credit > 0) engine.releaseSlots(credit)
                run.pending.addAndGet((built - from).toLong())
                for (k in from until built) publish(tasks[k]!!)
            }
            from = end
        }
    }

    /**
     * [consumer] follows [producer], a task of the chunk being built: nothing else can see the producer
     * before it is published (a skip only marks a building task poisoned), so its fanout needs no lock.
     */
    private fun attachUnpublished(consumer: Task, producer: Task) {
        (producer.fanout ?: ArrayList<Task>(2).also { producer.fanout = it }).add(consumer)
        consumer.addFanin()
        retain(consumer, producer)
    }

    private val gatesInEffect = ArrayList<GateImpl>()

    override suspend fun gate(name: String): Gate {
        checkUsable()
        run.firstError.get()?.let { throw it }
        drainConsumed()
        takeSlot()
        val t = Task(engine.nextTaskId(), run, "gate '$name'", GATE_CALLABLE, emptyArray(), emptyArray())
        run.pending.incrementAndGet()
        scopes.last().register(t)
        synchronized(t) { t.state = TaskState.PENDING } // never published: its build guard stays until open()
        run.gates += t
        return GateImpl(name, t, engine)
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

    private class GateImpl(override val name: String, val task: Task, private val engine: Engine) : Gate {
        override val isOpen: Boolean get() = task.state != TaskState.PENDING

        override fun open() {
            val consumers: ArrayList<Task>?
            synchronized(task) {
                if (task.state != TaskState.PENDING) return
                task.state = TaskState.COMPLETED
                consumers = task.fanout
                task.fanout = null
            }
            consumers?.forEach { c -> if (c.releaseFanin()) engine.publishReady(c) }
            if (task.release()) engine.consume(task)
            if (task.run.arrive()) engine.runArrived(task.run)
        }

        override fun toString(): String = "Gate($name, ${if (isOpen) "open" else "closed"})"
    }

    override suspend fun alloc(dtype: DType, vararg shape: Long): Tensor {
        checkUsable()
        run.firstError.get()?.let { throw it }
        require(shape.all { it >= 0 }) { "alloc shape must be >= 0, was ${shape.contentToString()}" }
        val bytes = shape.fold(dtype.byteSize.toLong()) { acc, n -> acc * n }
        drainConsumed()
        takeSlot()
        val (ring, allocation) = try {
            engine.allocate(scopes.size - 1, bytes)
        } catch (t: Throwable) {
            engine.releaseSlot()
            throw t
        }
        val id = engine.nextTaskId()
        val slot = Task(id, run, "alloc#$id", null, emptyArray(), emptyArray())
        slot.initAllocRefs()
        slot.state = TaskState.COMPLETED
        slot.allocation = allocation
        slot.allocRing = ring
        val buffer = Buffer(bytes, AddressSpace.Host, Access.READ_WRITE, "alloc#$id", allocation.segment, ring.sharedPath, allocation.offset)
        buffer.owner = slot
        slot.allocBuffer = buffer
        scopes.last().register(slot)
        return buffer.tensor(dtype, *shape)
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
            s.end(engine::consume)
        }
    }

    /** Ends the run's outer scope and the build; the run finishes once its tasks are terminal. */
    fun closeBuild() {
        if (closed) return
        closed = true
        while (scopes.isNotEmpty()) scopes.removeAt(scopes.lastIndex).end(engine::consume)
        run.building = false
        run.consumed.clear()
        if (run.arrive()) engine.runArrived(run)
    }

    private fun drainConsumed() {
        while (true) run.tensorMap.erase(run.consumed.poll() ?: return)
    }

    /** A task slot: at once when one is free (the common case costs no allocation), else under back-pressure. */
    private suspend inline fun takeSlot() {
        if (!engine.tryAcquireSlot()) engine.acquireSlot()
    }

    private fun checkUsable() {
        check(!closed) { "run #${run.id} is no longer building: its Orchestrator was used after the program returned" }
        check(Thread.currentThread() === thread) {
            "run #${run.id}'s Orchestrator was used from thread '${Thread.currentThread().name}'; submit only from the " +
                "program's own coroutine (do not switch dispatchers inside a program)"
        }
    }

    private companion object {
        /** Tasks of a replay built before any of them is published. */
        const val REPLAY_CHUNK = 64

        val GATE_CALLABLE = TaskCallable { error("a gate is never dispatched") }

        fun callableName(c: TaskCallable): String {
            val n = c.javaClass.name
            return n.substringAfterLast('.').ifEmpty { n }
        }
    }
}
