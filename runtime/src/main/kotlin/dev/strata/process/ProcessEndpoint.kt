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
import java.util.concurrent.TimeUnit
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
 * Faults: the child's exit (seen through [Process.onExit]) fails everything in flight or queued with
 * [WorkerDiedException]; a mailbox that breaks the protocol fails them with [ProtocolException] and the
 * child is killed. Later dispatches throw the same error, which the scheduler turns into a task failure.
 */
internal class ProcessEndpoint(
    override val path: String,
    override val index: Int,
    private val file: SharedMemoryFile,
    private val registry: CallableRegistry,
) : Endpoint {
    val mailbox: Mailbox = Mailbox.create(file.path.toString(), file.segment)

    /** The parent's side of the mailbox's park handshake: every state the parent writes goes through it. */
    private val parking = MailboxParking(mailbox, MailboxSide.PARENT)
    private val seg = file.segment
    private val writer = TaskWire.Writer()
    private val lock = Any()

    @Volatile
    private var inFlight: MailboxRequest? = null // written under the lock; read without it by poll's quick idle check
    private val queue = ArrayDeque<MailboxRequest>()
    private val known = BitSet()
    private var seq = 0L
    private lateinit var onDone: (Dispatch) -> Dispatch?

    /** Completes when the child reported INIT_READY; fails on INIT_FAILED or its exit. */
    val init = CompletableFuture<Unit>()

    @Volatile
    private var dead: StrataException? = null

    @Volatile
    private var closing = false

    /** Set (under the lock) when the mailbox is unmapped: nobody may touch it after that. */
    private var unmapped = false

    @Volatile
    var process: Process? = null
        private set

    /** Called once when the child dies while it is not being closed (e.g. to break its communication domains). */
    @Volatile
    var onDied: (() -> Unit)? = null

    /** Marks the callables the child loads at start-up as known. */
    fun preloaded(ids: Collection<Int>) = synchronized(lock) { ids.forEach { known.set(it) } }

    /** Attaches the launched child; its exit is watched from now on. */
    fun attach(p: Process) {
        process = p
        p.onExit().thenRun { exited(p) }
    }

    override fun start(onDone: (Dispatch) -> Dispatch?) {
        this.onDone = onDone
    }

    override fun ownsCurrentThread(): Boolean = false

    override fun dispatch(dispatch: Dispatch) {
        synchronized(lock) {
            dead?.let { throw it }
            val request = MailboxRequest.Task(dispatch)
            if (inFlight != null) queue.addLast(request) else sendLocked(request)
        }
    }

    /**
     * Sends a control request (ping, register, chip memory operations) and returns its reply payload;
     * queued behind a running task.
     */
    fun control(op: ControlOp, id: Int = 0, text: String = "", vararg longs: Long): CompletableFuture<ByteArray> {
        val c = MailboxRequest.Control(op, id, text, null, longs)
        synchronized(lock) {
            dead?.let { c.reply.completeExceptionally(it); return c.reply }
            if (inFlight != null) queue.addLast(c) else sendLocked(c)
        }
        return c.reply
    }

    private fun sendLocked(op: MailboxRequest) {
        when (op) {
            is MailboxRequest.Task -> {
                val d = op.dispatch
                val t = d.task
                val id = t.callableId.takeIf { it >= 0 } ?: registry.idFor(t.callable!!)
                if (!known[id]) { // first use on this child: load it there, then send the task
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
            }
        }
        inFlight = op
        publish(if (op is MailboxRequest.Task) MailboxState.TASK_READY else MailboxState.CONTROL_REQUEST)
    }

    /** Publishes [state] (a volatile store after the payload) and wakes the child only if it announced it parked. */
    private fun publish(state: MailboxState) = parking.publish(state)

    /**
     * Looks at the mailbox after a doorbell ring (reactor thread; also called once when the child exits).
     * Cheap when the child owes nothing. The state is read under the lock: a state read before a new
     * dispatch was published could be the previous task's answer and must not complete the new one.
     */
    fun poll() {
        if (dead != null) return
        if (init.isDone && inFlight == null) return
        var finished: Dispatch? = null
        var failedDispatch: Dispatch? = null
        synchronized(lock) {
            if (unmapped) return
            val state = try {
                val magic = INT.getAcquire(seg, MailboxLayout.MAGIC_OFFSET) as Int
                if (magic != MailboxLayout.MAGIC) {
                    throw ProtocolException(mailbox.name, "magic is 0x${magic.toUInt().toString(16)}, expected 0x${MailboxLayout.MAGIC.toString(16)}")
                }
                mailbox.state()
            } catch (e: ProtocolException) {
                broken(e)
                return
            }
            when (state) {
                MailboxState.INIT_READY -> if (!init.isDone) init.complete(Unit)
                MailboxState.INIT_FAILED -> if (!init.isDone) {
                    val e = readErrorOrBreak() ?: return
                    init.completeExceptionally(IllegalStateException("${e.errorClass}: ${e.message}"))
                }
                MailboxState.TASK_DONE, MailboxState.TASK_FAILED -> {
                    val d = (answered(state) as? MailboxRequest.Task ?: return).dispatch
                    if (state == MailboxState.TASK_FAILED) d.error = toTaskFailure(d, readErrorOrBreak() ?: return)
                    inFlight = null
                    finished = d
                    sendNextLocked()
                }
                MailboxState.CONTROL_DONE -> {
                    val c = answered(state) as? MailboxRequest.Control ?: return
                    val (err, payload) = try {
                        mailbox.readError().let { e -> e to (if (e == null) mailbox.readArgs() else EMPTY_BYTES) }
                    } catch (e: ProtocolException) {
                        broken(e)
                        return
                    }
                    inFlight = null
                    if (err == null) {
                        if (c.op == ControlOp.REGISTER) known.set(c.id)
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
    private fun answered(state: MailboxState): MailboxRequest? {
        val op = inFlight ?: return null
        val kindFits = (state == MailboxState.CONTROL_DONE) == (op is MailboxRequest.Control)
        val echoed = mailbox.answerSeq
        if (kindFits && echoed == seq) return op
        broken(
            ProtocolException(
                mailbox.name,
                "the mailbox says $state for dispatch seq $echoed, but ${op.describeOp()} with seq $seq is in flight " +
                    "(a stray or forged write to the mailbox); the child can no longer be trusted",
            ),
        )
        return null
    }

    private fun readErrorOrBreak() = try {
        mailbox.readError() ?: MailboxError(ErrorReport.PLAIN.code, "unknown", "the child reported a failure without an error report", "")
    } catch (e: ProtocolException) {
        broken(e)
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
        while (inFlight == null) {
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
     * The mailbox broke the protocol: kill the child (it can no longer be trusted) and fail what is in
     * flight — on another thread, since the caller may hold the lock.
     */
    private fun broken(e: ProtocolException) {
        val owed = markDead(e)
        log.error { "$path: ${e.message}; killing the child" }
        process?.destroyForcibly()
        Thread.ofVirtual().name("strata-protocol-failure").start { failAll(e, owed) }
    }

    private fun exited(p: Process) {
        poll() // an answer that arrived just before the exit still counts
        val code = p.exitValue()
        val doing = synchronized(lock) { (inFlight as? MailboxRequest.Task)?.dispatch?.let { "task #${it.task.id} '${it.task.name}'" } }
        if (closing && doing == null) return
        // The death is reported before the hook runs: the hook wakes peers (a chip's domain breaks), whose
        // own failures must not overtake it as the run's first error.
        fail(WorkerDiedException(path, p.pid(), code, doing ?: if (!init.isDone) "its start-up" else null))
        if (!closing) runCatching { onDied?.invoke() }.onFailure { log.warn(it) { "$path: the death hook failed" } }
    }

    private fun fail(e: StrataException) = failAll(e, markDead(e))

    /** Records the endpoint's death and takes everything it owed; empty if it was already dead. */
    private fun markDead(e: StrataException): List<MailboxRequest> = synchronized(lock) {
        if (dead != null) return emptyList()
        dead = e
        val owed = ArrayList<MailboxRequest>()
        inFlight?.let { owed += it }
        inFlight = null
        owed.addAll(queue)
        queue.clear()
        owed
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

    /** Asks the child to stop: the sticky shutdown word, then SHUTDOWN if the mailbox is free. Never blocks. */
    fun beginShutdown() {
        closing = true
        synchronized(lock) {
            if (unmapped) return
            mailbox.requestShutdown()
            if (inFlight == null) publish(MailboxState.SHUTDOWN)
            // A busy child sees the sticky word after its task; wake it in case it is parked.
            Futex.wakeAll(mailbox.stateWord)
        }
    }

    /** Waits for the child to exit until [deadlineNanos], then kills it; unlinks the mailbox. Never throws. */
    fun finishShutdown(deadlineNanos: Long) {
        val p = process
        try {
            if (p != null) {
                val left = deadlineNanos - System.nanoTime()
                if (!p.waitFor(maxOf(left, 0), TimeUnit.NANOSECONDS)) {
                    log.warn { "$path (pid ${p.pid()}) did not exit in time; killing it" }
                    p.destroyForcibly()
                    if (!p.waitFor(KILL_WAIT_MS, TimeUnit.MILLISECONDS)) log.error { "$path (pid ${p.pid()}) survived SIGKILL for ${KILL_WAIT_MS}ms" }
                }
            }
        } catch (e: InterruptedException) {
            Thread.currentThread().interrupt()
            p?.destroyForcibly()
        } finally {
            if (dead == null) dead = WorkerClosedException(path)
            unmap()
        }
    }

    /** Kills the child at once and unlinks the mailbox (start-up rollback). */
    fun kill() {
        closing = true
        process?.let { p ->
            p.destroyForcibly()
            try {
                p.waitFor(KILL_WAIT_MS, TimeUnit.MILLISECONDS)
            } catch (_: InterruptedException) {
                Thread.currentThread().interrupt()
            }
        }
        unmap()
    }

    private fun unmap() = synchronized(lock) {
        if (dead == null) dead = WorkerClosedException(path)
        unmapped = true
        file.close()
    }

    override fun close(timeoutMillis: Long) {
        beginShutdown()
        finishShutdown(System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(timeoutMillis))
    }

    override fun toString(): String = "ProcessEndpoint($path, pid=${process?.pid()})"

    /** State for diagnostics: what is in flight, queued, and what the mailbox says. */
    fun describe(): String = synchronized(lock) {
        if (unmapped) return "$path (closed)"
        "$path pid=${process?.pid()} alive=${process?.isAlive} dead=${dead?.message} inFlight=${inFlight.describeOp()} " +
            "queue=${queue.map { it.describeOp() }} state=${runCatching { mailbox.state() }.getOrNull()} seq=$seq " +
            "heartbeat=${mailbox.heartbeat} childParked=${INT.getVolatile(seg, MailboxLayout.CHILD_PARKED_OFFSET)}"
    }

    private fun MailboxRequest?.describeOp(): String = when (this) {
        null -> "-"
        is MailboxRequest.Task -> "task#${dispatch.task.id}/${dispatch.member}"
        is MailboxRequest.Control -> "control(op=$op, id=$id)"
    }

    private companion object {
        val INT: VarHandle = ValueLayout.JAVA_INT.varHandle()
        const val KILL_WAIT_MS = 5_000L
        val EMPTY_BYTES = ByteArray(0)
    }
}
