package dev.strata.process

import dev.strata.endpoint.Dispatch
import dev.strata.endpoint.Endpoint
import dev.strata.mailbox.Mailbox
import dev.strata.mailbox.MailboxLayout
import dev.strata.mailbox.MailboxParking
import dev.strata.mailbox.MailboxSide
import dev.strata.mailbox.MailboxState
import dev.strata.shm.SharedMemoryFile
import dev.strata.error.InvalidCallableException
import dev.strata.error.ProtocolException
import dev.strata.error.RemoteException
import dev.strata.error.StrataException
import dev.strata.error.TaskFailedException
import dev.strata.error.WorkerDiedException
import io.github.oshai.kotlinlogging.KotlinLogging
import java.lang.foreign.ValueLayout
import java.lang.invoke.VarHandle
import java.util.BitSet
import java.util.concurrent.CompletableFuture
import java.util.concurrent.ScheduledThreadPoolExecutor
import java.util.concurrent.TimeUnit
import kotlin.time.Duration
import dev.strata.endpoint.StopReason
import dev.strata.error.ChildUnresponsiveException
import dev.strata.error.WorkerStartException
import dev.strata.shm.Futex
import dev.strata.mailbox.MailboxError
import dev.strata.error.WorkerClosedException

private val log = KotlinLogging.logger {}

/**
 * A child JVM behind a shared-memory mailbox, as the scheduler sees it (DESIGN.md §7).
 *
 * The parent side is event driven: [dispatch] writes the task into the mailbox and publishes
 * `TASK_READY` (waking the child only if it parked); the child's answer rings the parent's doorbell,
 * and the [Reactor] calls [poll], which reports the completion to the scheduler from the reactor's
 * thread. One operation is in the mailbox at a time; a task dispatched while a control request is in
 * flight (or a control request sent while a task runs) waits in a small queue. A callable the child has
 * not loaded yet is registered first with a `CONTROL_REQUEST`.
 *
 * Faults: the child's exit (seen through [Process.onExit]) fails everything in flight with
 * [WorkerDiedException]; a mailbox that breaks the protocol fails it with [ProtocolException] and the
 * child is killed; a control request not answered within [Settings.controlTimeout] kills the child. A
 * [Settings.replaceable] child (a sub worker, a plain or nested next-level child) that dies after its
 * start-up is then replaced by a fresh one — a new mailbox and a new JVM — and what was queued behind it
 * runs there, so the worker stays usable. A chip child is not replaced: later dispatches throw the error
 * that ended it, which the scheduler turns into a task failure.
 */
internal class ProcessEndpoint(
    override val path: String,
    override val index: Int,
    private val registry: CallableRegistry,
    private val settings: Settings,
    /** Launches a child JVM on a mailbox file, preloading the given callables (one life of this endpoint). */
    private val launcher: (SharedMemoryFile, List<CallableEntry>) -> Process,
) : Endpoint {
    /** How this endpoint bounds and recovers its child. */
    class Settings(
        /** Whether a child that died after start-up is replaced by a fresh one. */
        val replaceable: Boolean,
        /** Deadline of every control request, and of a replacement's start-up. */
        val controlTimeout: Duration,
        /** How long a cancelled task may take to honour its interrupt before its child is killed. */
        val cancelGrace: Duration,
        /** Whether a stall watchdog reads [runningSinceNanos] and [lastProgressNanos] (else they are not kept). */
        val tracked: Boolean = false,
    )

    /**
     * One child JVM and its mailbox. A replacement is a new life: a fresh file (so nothing the dead child
     * wrote can be mistaken for an answer), a fresh JVM, an empty set of loaded callables.
     */
    private inner class Life(val number: Int, val file: SharedMemoryFile, preload: Collection<Int>) {
        val mailbox: Mailbox = Mailbox.create(file.path.toString(), file.segment)

        /** The parent's side of the mailbox's park handshake: every state the parent writes goes through it. */
        val parking = MailboxParking(mailbox, MailboxSide.PARENT)
        val seg = file.segment
        val known = BitSet().apply { preload.forEach { set(it) } }

        /** Completes when the child reported INIT_READY; fails on INIT_FAILED or its exit. */
        val init = CompletableFuture<Unit>()

        @Volatile
        var process: Process? = null

        /** Set (under the lock) when the mailbox is unmapped: nobody may touch it after that. */
        var unmapped = false

        /** Set (under the lock) once this child can no longer be trusted and is being killed: nothing more is sent to it. */
        var condemned = false

        fun unmap() {
            if (unmapped) return
            unmapped = true
            file.close()
        }
    }

    private val writer = TaskWire.Writer()
    private val lock = Any()

    @Volatile
    private var life: Life

    @Volatile
    private var inFlight: MailboxRequest? = null // written under the lock; read without it by poll's quick idle check
    private val queue = ArrayDeque<MailboxRequest>()
    private var seq = 0L
    private lateinit var onDone: (Dispatch) -> Dispatch?

    @Volatile
    private var sentAtNanos = 0L

    @Volatile
    private var progressNanos: Long = System.nanoTime()

    /** While a replacement child starts (bounded by its own deadline), the clock is current: that is progress. */
    override var lastProgressNanos: Long
        get() = if (replacing) System.nanoTime() else progressNanos
        private set(value) {
            progressNanos = value
        }

    /** A replacement child is starting; requests wait for it. */
    private val replacing: Boolean get() = life.let { it.number > 1 && !it.init.isDone && !it.unmapped }

    override val busy: Boolean get() = inFlight != null || replacing

    /** Completes when the first child reported INIT_READY; fails on INIT_FAILED or its exit (start-up waits for it). */
    val init: CompletableFuture<Unit>

    @Volatile
    private var dead: StrataException? = null

    @Volatile
    private var closing = false

    init {
        life = Life(1, newMailboxFile(), emptyList())
        init = life.init
    }

    /** The current child JVM. */
    val process: Process? get() = life.process

    /** Called once when the child dies while it is not being closed (e.g. to break its communication domains). */
    @Volatile
    var onDied: (() -> Unit)? = null

    /** Starts the first child, preloading [preload]; its exit is watched from now on. */
    fun launch(preload: List<CallableEntry>) {
        val l = life
        synchronized(lock) { preload.forEach { l.known.set(it.id) } }
        attach(l, launcher(l.file, preload))
    }

    private fun attach(l: Life, p: Process) {
        l.process = p
        p.onExit().thenRun { exited(l, p) }
    }

    override val running: Dispatch? get() = (inFlight as? MailboxRequest.Task)?.dispatch
    override val runningSinceNanos: Long get() = sentAtNanos

    override fun start(onDone: (Dispatch) -> Dispatch?) {
        this.onDone = onDone
    }

    override fun ownsCurrentThread(): Boolean = false

    override fun dispatch(dispatch: Dispatch) {
        synchronized(lock) {
            dead?.let { throw it }
            enqueueLocked(MailboxRequest.Task(dispatch))
        }
    }

    /**
     * Sends a control request (ping, register, chip memory operations) and returns its reply payload;
     * queued behind a running task. The child must answer within [deadline] (default
     * [Settings.controlTimeout]) of receiving it, or it is killed (and replaced, where it can be) and the
     * reply fails.
     */
    fun control(op: ControlOp, id: Int = 0, text: String = "", vararg longs: Long, deadline: Duration? = null): CompletableFuture<ByteArray> {
        val c = MailboxRequest.Control(op, id, text, null, longs, deadline)
        synchronized(lock) {
            dead?.let { c.reply.completeExceptionally(it); return c.reply }
            enqueueLocked(c)
        }
        return c.reply
    }

    /** Sends [op] now if the mailbox is free and its child ready, else queues it. */
    private fun enqueueLocked(op: MailboxRequest) {
        val l = life
        if (inFlight != null || !l.init.isDone || l.condemned) queue.addLast(op) else sendLocked(op)
    }

    private fun sendLocked(op: MailboxRequest) {
        val l = life
        val mailbox = l.mailbox
        when (op) {
            is MailboxRequest.Task -> {
                val d = op.dispatch
                val t = d.task
                val id = t.callableId.takeIf { it >= 0 } ?: registry.idFor(t.callable!!)
                if (!l.known[id]) { // first use on this child: load it there, then send the task
                    sendLocked(MailboxRequest.Control(ControlOp.REGISTER, id, registry.nameOf(id), d))
                    return
                }
                val args = t.members[d.member]
                try {
                    writer.encode(t.id, d.member, t.members.size, t.name, args).writeTo(mailbox)
                } catch (e: IllegalArgumentException) {
                    throw IllegalArgumentException("$path cannot take task #${t.id} '${t.name}': ${e.message}", e)
                }
                mailbox.clearError()
                mailbox.callableId = id.toLong()
                mailbox.dispatchSeq = ++seq
            }
            is MailboxRequest.Control -> {
                writer.op(op.op, op.id, op.text, op.longs).writeTo(mailbox)
                mailbox.clearError()
                mailbox.dispatchSeq = ++seq
                val sent = seq
                TIMER.schedule({ controlLate(l, op, sent) }, (op.deadline ?: settings.controlTimeout).inWholeNanoseconds, TimeUnit.NANOSECONDS)
            }
        }
        inFlight = op
        if (settings.tracked) {
            val now = System.nanoTime()
            sentAtNanos = now
            lastProgressNanos = now
        }
        l.parking.publish(if (op is MailboxRequest.Task) MailboxState.TASK_READY else MailboxState.CONTROL_REQUEST)
    }

    /**
     * Looks at the mailbox after a doorbell ring (reactor thread; also called once when the child exits).
     * Cheap when the child owes nothing. The state is read under the lock: a state read before a new
     * dispatch was published could be the previous task's answer and must not complete the new one.
     */
    fun poll() {
        if (dead != null) return
        if (life.init.isDone && inFlight == null) return
        var finished: Dispatch? = null
        var failedDispatch: Dispatch? = null
        synchronized(lock) {
            val l = life
            if (l.unmapped) return
            val mailbox = l.mailbox
            val state = try {
                val magic = INT.getAcquire(l.seg, MailboxLayout.MAGIC_OFFSET) as Int
                if (magic != MailboxLayout.MAGIC) {
                    throw ProtocolException(mailbox.name, "magic is 0x${magic.toUInt().toString(16)}, expected 0x${MailboxLayout.MAGIC.toString(16)}")
                }
                mailbox.state()
            } catch (e: ProtocolException) {
                broken(l, e)
                return
            }
            when (state) {
                MailboxState.INIT_READY -> if (!l.init.isDone) {
                    l.init.complete(Unit)
                    if (l.number > 1) log.info { "$path: replacement child (pid ${l.process?.pid()}) is ready" }
                    sendNextLocked()
                }
                MailboxState.INIT_FAILED -> if (!l.init.isDone) {
                    val e = readErrorOrBreak(l) ?: return
                    l.init.completeExceptionally(IllegalStateException("${e.errorClass}: ${e.message}"))
                }
                MailboxState.TASK_DONE, MailboxState.TASK_FAILED -> {
                    val d = (answered(l, state) as? MailboxRequest.Task ?: return).dispatch
                    if (state == MailboxState.TASK_FAILED) d.error = toTaskFailure(d, readErrorOrBreak(l) ?: return)
                    if (d.task.times != null) d.ranInChild(mailbox.taskStartNanos, mailbox.taskEndNanos)
                    inFlight = null
                    if (settings.tracked) lastProgressNanos = System.nanoTime()
                    finished = d
                    sendNextLocked()
                }
                MailboxState.CONTROL_DONE -> {
                    val c = answered(l, state) as? MailboxRequest.Control ?: return
                    val (err, payload) = try {
                        mailbox.readError().let { e -> e to (if (e == null) mailbox.readArgs() else EMPTY_BYTES) }
                    } catch (e: ProtocolException) {
                        broken(l, e)
                        return
                    }
                    inFlight = null
                    if (settings.tracked) lastProgressNanos = System.nanoTime()
                    if (err == null) {
                        if (c.op == ControlOp.REGISTER) l.known.set(c.id)
                        c.reply.complete(payload)
                        c.forDispatch?.let { queue.addFirst(MailboxRequest.Task(it)) }
                    } else {
                        val e = if (c.op == ControlOp.REGISTER) {
                            InvalidCallableException(c.text, "loading it in $path failed: ${err.errorClass}: ${err.message}")
                        } else {
                            RemoteException(err.errorClass, err.message, err.stack)
                        }
                        c.reply.completeExceptionally(e)
                        c.forDispatch?.let { d ->
                            d.error = TaskFailedException.of(path, d.task.id, d.task.name, e)
                            failedDispatch = d
                        }
                    }
                    sendNextLocked()
                }
                else -> Unit // our own request, not answered yet
            }
        }
        finished?.let { report(it) }
        failedDispatch?.let { report(it) }
    }

    /**
     * The request in flight that the child's [state] answers, or null: nothing is owed (a late ring), or
     * the answer is not the child's answer to it — the wrong kind, or an answer seq other than the seq we
     * sent (a stray or forged state write). The latter breaks the protocol: the child is killed and what it
     * owed fails with [ProtocolException]. Under the lock.
     */
    private fun answered(l: Life, state: MailboxState): MailboxRequest? {
        val op = inFlight ?: return null
        val kindFits = (state == MailboxState.CONTROL_DONE) == (op is MailboxRequest.Control)
        val echoed = l.mailbox.answerSeq
        if (kindFits && echoed == seq) return op
        broken(
            l,
            ProtocolException(
                l.mailbox.name,
                "the mailbox says $state for dispatch seq $echoed, but ${op.describeOp()} with seq $seq is in flight " +
                    "(a stray or forged write to the mailbox); the child can no longer be trusted",
            ),
        )
        return null
    }

    private fun readErrorOrBreak(l: Life) = try {
        l.mailbox.readError() ?: MailboxError(ErrorReport.PLAIN.code, "unknown", "the child reported a failure without an error report", "")
    } catch (e: ProtocolException) {
        broken(l, e)
        null
    }

    private fun report(d: Dispatch) {
        val next = try {
            onDone(d)
        } catch (t: Throwable) {
            log.error(t) { "$path could not report the completion of ${d.task}" }
            null
        }
        if (next != null) {
            try {
                dispatch(next)
            } catch (e: Throwable) {
                next.error = if (e is StrataException) e else TaskFailedException.of(path, next.task.id, next.task.name, e)
                report(next)
            }
        }
    }

    private fun sendNextLocked() {
        while (inFlight == null && life.init.isDone && !life.condemned && dead == null) {
            val next = queue.removeFirstOrNull() ?: return
            try {
                sendLocked(next)
            } catch (e: Throwable) { // arguments that cannot be encoded fail that task only
                when (next) {
                    is MailboxRequest.Task -> {
                        val d = next.dispatch
                        d.error = TaskFailedException.of(path, d.task.id, d.task.name, e)
                        Thread.ofVirtual().start { report(d) }
                    }
                    is MailboxRequest.Control -> next.reply.completeExceptionally(e)
                }
            }
        }
    }

    private fun toTaskFailure(d: Dispatch, e: MailboxError): TaskFailedException {
        val t = d.task
        if (e.code == ErrorReport.NESTED.code) {
            // The stack starts with the inner failure's coordinates: path, task id and name, one per line.
            val lines = e.stack.split('\n', limit = 4)
            if (lines.size >= 3) {
                val stack = lines.getOrElse(3) { "" }
                return TaskFailedException(
                    "$path / ${lines[0]}", lines[1].toLongOrNull() ?: t.id, lines[2], e.errorClass, e.message, stack,
                    RemoteException(e.errorClass, e.message, stack),
                )
            }
        }
        return TaskFailedException(path, t.id, t.name, e.errorClass, e.message, e.stack, RemoteException(e.errorClass, e.message, e.stack))
    }

    /**
     * [l]'s child can no longer be trusted ([error]: a protocol violation, an unanswered control request):
     * what it owed fails with [error] now — on another thread, since the caller may hold the lock — and the
     * child is killed; its exit then replaces it where it can be. Idempotent per life.
     */
    private fun broken(l: Life, error: StrataException) {
        val owed = synchronized(lock) {
            if (life !== l || l.unmapped || l.condemned) return
            l.condemned = true
            // A child that will be replaced keeps its queue for its successor; otherwise the endpoint dies with it.
            takeOwed(if (settings.replaceable && l.init.isDone && !l.init.isCompletedExceptionally) null else error)
        }
        log.error { "$path: ${error.message}; killing the child (pid ${l.process?.pid()})" }
        l.process?.destroyForcibly()
        Thread.ofVirtual().name("strata-protocol-failure").start { failAll(error, owed) }
    }

    /** A control request still unanswered at its deadline: the child is unresponsive (a class initialiser that blocks, a hung chip call). */
    private fun controlLate(l: Life, c: MailboxRequest.Control, sent: Long) {
        synchronized(lock) { if (inFlight !== c || seq != sent || life !== l) return }
        val pid = l.process?.pid()
        val within = c.deadline ?: settings.controlTimeout
        val what = "did not answer within $within; its JVM (pid $pid) was killed" +
            if (settings.replaceable) " and is replaced by a fresh one" else ""
        val error: StrataException = if (c.op == ControlOp.REGISTER) {
            InvalidCallableException(c.text, "loading it in $path $what (does its class initialiser or constructor block?)")
        } else {
            ChildUnresponsiveException(path, pid ?: -1, "control request ${c.op}", within, settings.replaceable)
        }
        broken(l, error)
    }

    private fun exited(l: Life, p: Process) {
        if (life !== l) return // an earlier life, already replaced
        poll() // an answer that arrived just before the exit still counts
        val code = p.exitValue()
        val doing = synchronized(lock) { (inFlight as? MailboxRequest.Task)?.dispatch?.let { "task #${it.task.id} '${it.task.name}'" } }
        if (closing && doing == null) return
        val replaced = settings.replaceable && !closing && l.init.isDone && !l.init.isCompletedExceptionally
        // The death is reported before the hook runs: the hook wakes peers (a chip's domain breaks), whose
        // own failures must not overtake it as the run's first error.
        val error = WorkerDiedException(path, p.pid(), code, doing ?: if (!l.init.isDone) "its start-up" else null, replaced = replaced)
        if (replaced) {
            val owed = synchronized(lock) {
                if (life !== l) return
                l.condemned = true // what the failure hands back (a successor) queues for the replacement
                takeOwed(null)
            }
            failAll(error, owed)
            replace(l, error)
        } else {
            fail(error)
        }
        if (!closing) runCatching { onDied?.invoke() }.onFailure { log.warn(it) { "$path: the death hook failed" } }
    }

    /**
     * Starts a fresh child in place of [old] (dead after [why]): a new mailbox file and JVM with the
     * callables the old one had loaded preloaded. Requests queued meanwhile wait for it; if it does not report ready
     * within [Settings.controlTimeout], this endpoint is dead for good and they fail.
     */
    private fun replace(old: Life, why: StrataException) {
        log.warn { "$path: replacing the child that died (${why.message})" }
        // Under the lock, launch included: a close that comes later finds the new child and stops it.
        val l = try {
            synchronized(lock) {
                if (closing || life !== old) return
                old.unmap()
                // What the dead child had loaded, and nothing else: a callable whose loading killed it stays out.
                val preload = registry.snapshot().filter { (id, _) -> old.known[id] }.map { (id, name) -> CallableEntry(id, name) }
                val next = Life(old.number + 1, newMailboxFile(), preload.map { it.id })
                life = next
                attach(next, launcher(next.file, preload))
                next
            }
        } catch (t: Throwable) {
            fail(WorkerStartException(path, listOf("$path: replacing the child that died (${why.message}) failed: $t")))
            return
        }
        TIMER.schedule({
            if (life === l && !l.init.isDone) {
                l.process?.destroyForcibly()
                fail(WorkerStartException(path, listOf("$path: the replacement child did not report ready within ${settings.controlTimeout}")))
            }
        }, settings.controlTimeout.inWholeNanoseconds, TimeUnit.NANOSECONDS)
        l.init.whenComplete { _, e -> if (e != null && life === l) fail(WorkerStartException(path, listOf("$path: the replacement child failed to start: ${e.message}"))) }
    }

    private fun fail(e: StrataException) = failAll(e, markDead(e))

    /** Records the endpoint's death and takes everything it owed; empty if it was already dead. */
    private fun markDead(e: StrataException): List<MailboxRequest> = synchronized(lock) {
        if (dead != null) return emptyList()
        takeOwed(e)
    }

    /** Takes what is in flight and queued; [deadWith] non-null also marks the endpoint dead for good. Under the lock. */
    private fun takeOwed(deadWith: StrataException?): List<MailboxRequest> {
        if (deadWith != null) dead = deadWith
        val owed = ArrayList<MailboxRequest>()
        inFlight?.let { owed += it }
        inFlight = null
        if (deadWith != null) { // a replaced child keeps its queue: the requests run on its successor
            owed.addAll(queue)
            queue.clear()
        }
        return owed
    }

    private fun failAll(e: StrataException, owed: List<MailboxRequest>) {
        if (!init.isDone) init.completeExceptionally(e)
        for (op in owed) {
            when (op) {
                is MailboxRequest.Task -> {
                    op.dispatch.error = e
                    report(op.dispatch)
                }
                is MailboxRequest.Control -> {
                    op.reply.completeExceptionally(e)
                    op.forDispatch?.let {
                        it.error = e
                        report(it)
                    }
                }
            }
        }
    }

    override fun stop(dispatch: Dispatch, reason: StopReason) {
        val l: Life
        val sent: Long
        synchronized(lock) {
            if ((inFlight as? MailboxRequest.Task)?.dispatch !== dispatch) return
            l = life
            sent = seq
            if (reason == StopReason.CANCELLED) {
                if (l.unmapped) return
                l.mailbox.cancelSeq = sent // the child's heartbeat thread interrupts the task
            }
        }
        if (reason == StopReason.STALLED) {
            log.error { "$path: killing its child JVM (pid ${l.process?.pid()}): task #${dispatch.task.id} '${dispatch.task.name}' stalled" }
            l.process?.destroyForcibly()
            return
        }
        TIMER.schedule({
            val still = synchronized(lock) { life === l && seq == sent && (inFlight as? MailboxRequest.Task)?.dispatch === dispatch }
            if (still) {
                log.warn { "$path: cancelled task #${dispatch.task.id} '${dispatch.task.name}' ignored its interrupt for ${settings.cancelGrace}; killing its child JVM (pid ${l.process?.pid()})" }
                l.process?.destroyForcibly()
            }
        }, settings.cancelGrace.inWholeNanoseconds, TimeUnit.NANOSECONDS)
    }

    /**
     * The verdict's detail: the child's pid and whether its JVM still runs. A child's watch thread beats
     * every 50 ms while a task runs; two reads [BEAT_WATCH_MS] apart tell a frozen JVM (SIGSTOP, swapping,
     * a debugger) from a task that does not return. Blocks the caller (the watchdog) for that long, once per verdict.
     */
    override fun describeRunning(dispatch: Dispatch, forNanos: Long): String {
        val l = life
        val before = heartbeatOf(l)
        try {
            Thread.sleep(BEAT_WATCH_MS)
        } catch (_: InterruptedException) {
            Thread.currentThread().interrupt()
        }
        val after = heartbeatOf(l)
        val jvm = when {
            before == null || after == null -> "its mailbox is gone"
            after != before -> "its JVM is alive (its heartbeat advances), so the task itself does not return"
            else -> "its heartbeat did not advance in $BEAT_WATCH_MS ms: the JVM is stopped or frozen (SIGSTOP, swapping, a debugger)"
        }
        return "$path (pid ${l.process?.pid()}) has been running task #${dispatch.task.id} '${dispatch.task.name}' for " +
            "${forNanos / 1_000_000} ms; $jvm. Its child JVM is killed" + if (settings.replaceable) " and replaced by a fresh one" else ""
    }

    /** The current child's heartbeat, or null once its mailbox is gone. */
    fun heartbeatNow(): Long? = heartbeatOf(life)

    private fun heartbeatOf(l: Life): Long? = synchronized(lock) { if (l.unmapped) null else l.mailbox.heartbeat }

    /** Asks the child to stop: the sticky shutdown word, then SHUTDOWN if the mailbox is free. Never blocks. */
    fun beginShutdown() {
        closing = true
        synchronized(lock) {
            val l = life
            if (l.unmapped) return
            l.mailbox.requestShutdown()
            if (inFlight == null) l.parking.publish(MailboxState.SHUTDOWN)
            // A busy child sees the sticky word after its task; wake it in case it is parked.
            Futex.wakeAll(l.mailbox.stateWord)
        }
    }

    /** Waits for the child to exit until [deadlineNanos], then kills it; unlinks the mailbox. Never throws. */
    fun finishShutdown(deadlineNanos: Long) {
        val p = life.process
        try {
            if (p != null) {
                val left = deadlineNanos - System.nanoTime()
                if (!p.waitFor(maxOf(left, 0), TimeUnit.NANOSECONDS)) {
                    log.warn { "$path (pid ${p.pid()}) did not exit in time; killing it and its descendants" }
                    killTree(p)
                }
            }
        } catch (e: InterruptedException) {
            Thread.currentThread().interrupt()
            p?.destroyForcibly()
        } finally {
            unmap()
        }
    }

    /** Kills the child and its descendants at once and unlinks the mailbox (start-up rollback). */
    fun kill() {
        closing = true
        life.process?.let { p ->
            try {
                killTree(p)
            } catch (_: InterruptedException) {
                Thread.currentThread().interrupt()
            }
        }
        unmap()
    }

    /**
     * SIGKILL to [p] and every descendant it has (a nested worker's children would otherwise get their
     * parent-death signal only later, and keep their files meanwhile); waits for [p], bounded.
     */
    private fun killTree(p: Process) {
        val descendants = runCatching { p.descendants().toList() }.getOrDefault(emptyList())
        p.destroyForcibly()
        descendants.forEach { it.destroyForcibly() }
        if (!p.waitFor(KILL_WAIT_MS, TimeUnit.MILLISECONDS)) log.error { "$path (pid ${p.pid()}) survived SIGKILL for ${KILL_WAIT_MS}ms" }
        for (d in descendants) runCatching { d.onExit().get(KILL_WAIT_MS, TimeUnit.MILLISECONDS) }
    }

    private fun unmap() = synchronized(lock) {
        closing = true
        if (dead == null) dead = WorkerClosedException(path)
        life.unmap()
    }

    override fun close(timeoutMillis: Long) {
        beginShutdown()
        finishShutdown(System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(timeoutMillis))
    }

    override fun toString(): String = "ProcessEndpoint($path, pid=${life.process?.pid()})"

    /** State for diagnostics: what is in flight, queued, and what the mailbox says. */
    fun describe(): String = synchronized(lock) {
        val l = life
        if (l.unmapped) return "$path (closed)"
        "$path life=${l.number} pid=${l.process?.pid()} alive=${l.process?.isAlive} dead=${dead?.message} inFlight=${inFlight.describeOp()} " +
            "queue=${queue.map { it.describeOp() }} state=${runCatching { l.mailbox.state() }.getOrNull()} seq=$seq " +
            "heartbeat=${l.mailbox.heartbeat} childParked=${INT.getVolatile(l.seg, MailboxLayout.CHILD_PARKED_OFFSET)}"
    }

    private fun MailboxRequest?.describeOp(): String = when (this) {
        null -> "-"
        is MailboxRequest.Task -> "task#${dispatch.task.id}/${dispatch.member}"
        is MailboxRequest.Control -> "control(op=$op, id=$id)"
    }

    companion object {
        private val INT: VarHandle = ValueLayout.JAVA_INT.varHandle()
        private const val KILL_WAIT_MS = 5_000L
        private val EMPTY_BYTES = ByteArray(0)

        /** How long a verdict watches a child's heartbeat (its beat period while a task runs is 50 ms). */
        private const val BEAT_WATCH_MS = 350L

        /**
         * Until [done], once a second: a child among [endpoints] running a dispatch that [belongs] (a task of a
         * failed run) whose heartbeat did not advance since the previous look is frozen (its watch thread
         * beats every 50 ms while a task runs), and is killed so that the run can end (a sub child is then
         * replaced, a chip reported dead). A healthy child's task is left to finish.
         */
        fun killFrozen(endpoints: List<ProcessEndpoint>, belongs: (Dispatch) -> Boolean, done: () -> Boolean) {
            val seen = LongArray(endpoints.size) { Long.MIN_VALUE }
            val self = java.util.concurrent.atomic.AtomicReference<java.util.concurrent.ScheduledFuture<*>>()
            val tick = Runnable {
                try {
                    if (done()) {
                        self.get()?.cancel(false)
                        return@Runnable
                    }
                    for ((i, ep) in endpoints.withIndex()) {
                        val d = ep.running
                        val beat = if (d != null && belongs(d)) ep.heartbeatNow() else null
                        if (beat == null) {
                            seen[i] = Long.MIN_VALUE
                            continue
                        }
                        if (beat == seen[i]) {
                            log.error { "${ep.path} (pid ${ep.process?.pid()}): task #${d!!.task.id} '${d.task.name}' of a failed run shows no heartbeat for a second: the JVM is stopped or frozen; killing it so the run can end" }
                            ep.stop(d!!, StopReason.STALLED)
                            seen[i] = Long.MIN_VALUE
                        } else {
                            seen[i] = beat
                        }
                    }
                } catch (t: Throwable) {
                    log.error(t) { "watching the children of a failed run failed" }
                }
            }
            self.set(TIMER.scheduleAtFixedRate(tick, 0, FROZEN_CHECK_MS, TimeUnit.MILLISECONDS))
        }

        /** How often [killFrozen] looks at the heartbeats (a frozen child is killed after one to two periods). */
        private const val FROZEN_CHECK_MS = 1_000L

        private fun newMailboxFile(): SharedMemoryFile = SharedMemoryFile.create(
            MailboxLayout.totalSize(MailboxLayout.DEFAULT_ARGS_CAPACITY, MailboxLayout.DEFAULT_ERROR_CAPACITY), "mailbox",
        )

        /** Deadlines of control requests, cancellation graces and replacements: one daemon thread for the JVM. */
        private val TIMER = ScheduledThreadPoolExecutor(1) { r -> Thread(r, "strata-child-deadlines").apply { isDaemon = true } }.apply {
            removeOnCancelPolicy = true
        }
    }
}
