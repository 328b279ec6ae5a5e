package dev.strata.child

import dev.strata.trace.TraceRecorder
import dev.strata.chip.ChipContextWire
import dev.strata.chip.CommDomainSpec
import dev.strata.chip.CommJoin
import dev.strata.chip.ChipRuntime
import dev.strata.error.ErrorText
import dev.strata.endpoint.ThreadEndpoint
import dev.strata.error.TaskFailedException
import dev.strata.mailbox.Doorbell
import dev.strata.mailbox.Mailbox
import dev.strata.mailbox.MailboxParking
import dev.strata.mailbox.MailboxSide
import dev.strata.mailbox.MailboxState
import dev.strata.nativebind.posix.errno_h
import dev.strata.nativebind.posix.signal_h
import dev.strata.nativebind.posix.sys_prctl_h
import dev.strata.nativebind.posix.unistd_h
import dev.strata.process.CallableNames
import dev.strata.process.ChildSpec
import dev.strata.process.ControlOp
import dev.strata.process.ErrorReport
import dev.strata.process.SegmentTrust
import dev.strata.process.SharedMappings
import dev.strata.process.TaskWire
import dev.strata.shm.SharedMemoryFile
import dev.strata.task.TaskCallable
import dev.strata.task.TaskContext
import dev.strata.tensor.Access
import dev.strata.worker.Worker
import dev.strata.worker.WorkerSpec
import dev.strata.worker.startLocalChip
import java.lang.foreign.Arena
import java.util.concurrent.locks.LockSupport
import java.nio.file.Paths
import kotlin.time.Duration.Companion.milliseconds

internal class ChildLoop(val spec: ChildSpec) {
    private val callables = HashMap<Int, TaskCallable>()
    private val mappings = SharedMappings()
    lateinit var mailbox: Mailbox
        private set
    lateinit var doorbell: Doorbell
        private set
    private var nested: Worker? = null
    private var chip: ChipRuntime? = null

    /** How long one task may run before the task watch ends it: a chip's `syncTimeout` (0: no bound). */
    private var taskBoundNanos = 0L

    /** This child's own trace (its nested worker's or chip cores' spans) when the parent traces; written at exit. */
    private val trace: TraceRecorder? = spec.trace?.let { TraceRecorder() }

    /** Writes [trace] to the file the parent named; a failure is reported on stderr (the parent's trace then says it is missing). */
    private fun writeTrace() {
        val t = trace ?: return
        try {
            t.write(Paths.get(spec.trace!!))
        } catch (e: Exception) {
            System.err.println("strata child ${spec.path}: could not write its trace to ${spec.trace}: $e")
        }
    }
    private lateinit var watch: TaskWatch

    /**
     * The child's second thread, alive only while a task runs: it advances the heartbeat every [BEAT_MILLIS]
     * (so the parent can tell a frozen JVM from a task that does not return) and interrupts the task when
     * the parent asks ([Mailbox.cancelSeq] names its dispatch seq: its run was cancelled). In a chip JVM it
     * also bounds each task by the chip's `syncTimeout` (the chip's program runs on the task thread, see
     * [ChipRuntime]): at the deadline it makes the chip unusable ([ChipRuntime.overran]) and interrupts the
     * task; a task that still runs [STUCK_GRACE_NANOS] later ends the JVM ([EXIT_STUCK_PROGRAM]), so the
     * parent reports the chip dead instead of waiting for good. Parked while the child is idle, so an idle
     * child still costs no wake-ups.
     */
    private inner class TaskWatch(private val taskThread: Thread) : Runnable {
        @Volatile
        private var taskSeq = 0L

        /** When the running task must have ended (`System.nanoTime`); 0: no bound. Written before [taskSeq]. */
        @Volatile
        private var deadline = 0L

        @Volatile
        private var parked = false
        /** 1 while this thread is between its check of [taskSeq] and its interrupt (only it writes it). */
        @Volatile
        private var interrupting = 0
        private var interruptedSeq = 0L

        /** The error of the task that overran its deadline ([overranSeq]); written before it. */
        private var overrun: Throwable? = null
        @Volatile
        private var overranSeq = 0L
        private var overranAt = 0L
        private val thread = Thread(this, "strata-child-watch").apply {
            isDaemon = true
            start()
        }

        /** The task with dispatch seq [seq] starts, to end within [boundNanos] (0: unbounded) (the task thread). */
        fun begin(seq: Long, boundNanos: Long) {
            deadline = if (boundNanos > 0) (System.nanoTime() + minOf(boundNanos, MAX_BOUND_NANOS)).let { if (it == 0L) 1L else it } else 0L
            taskSeq = seq
            if (parked) LockSupport.unpark(thread)
        }

        /** The task ended: no interrupt reaches the next one (the task thread). */
        fun end() {
            taskSeq = 0 // volatile: ordered before the read below, as the watcher's increment is before its check
            while (interrupting != 0) Thread.onSpinWait() // a cancel or a deadline that saw this task may be about to interrupt
            Thread.interrupted()
        }

        /** The error to report for task [seq] if it overran its deadline, else null (the task thread, after [end]). */
        fun overrunOf(seq: Long): Throwable? = if (overranSeq == seq) overrun else null

        override fun run() {
            while (true) {
                val seq = taskSeq
                if (seq == 0L) {
                    parked = true
                    if (taskSeq == 0L) LockSupport.park(this)
                    parked = false
                    continue
                }
                mailbox.beat()
                if (mailbox.cancelSeq == seq && interruptedSeq != seq) interruptIfRunning(seq) { interruptedSeq = seq }
                LockSupport.parkNanos(this, bounded(seq))
            }
        }

        /**
         * Runs [first] and interrupts the task thread if task [seq] still runs; [interrupting] brackets the check
         * and the interrupt, so [end] waits for an interrupt meant for the task that just ended.
         */
        private inline fun interruptIfRunning(seq: Long, first: () -> Unit) {
            interrupting = 1
            if (taskSeq == seq) {
                first()
                taskThread.interrupt()
            }
            interrupting = 0
        }

        /** Enforces task [seq]'s deadline; returns how long to pause before the next look. */
        private fun bounded(seq: Long): Long {
            val d = deadline
            if (d == 0L) return BEAT_NANOS
            val now = System.nanoTime()
            if (overranSeq != seq) {
                if (now - d < 0) return minOf(BEAT_NANOS, d - now)
                interruptIfRunning(seq) {
                    overrun = chip?.overran()
                    overranAt = now
                    overranSeq = seq
                }
                return BEAT_NANOS
            }
            if (now - overranAt < STUCK_GRACE_NANOS) return minOf(BEAT_NANOS, overranAt + STUCK_GRACE_NANOS - now)
            if (taskSeq == seq) {
                System.err.println(
                    "strata chip ${spec.path}: a task's program ran past the chip's syncTimeout and ignored its interrupt for " +
                        "${STUCK_GRACE_NANOS / 1_000_000} ms; ending this chip JVM",
                )
                Runtime.getRuntime().halt(EXIT_STUCK_PROGRAM)
            }
            return BEAT_NANOS
        }
    }

    fun run(): Int {
        if (!tieToParent()) return EXIT_ORPHAN
        val file = SharedMemoryFile.open(Paths.get(spec.mailbox))
        doorbell = Doorbell.open(Paths.get(spec.doorbell))
        mailbox = Mailbox.open(spec.mailbox, file.segment)
        CurrentChild.current = this
        SegmentTrust.owners = spec.segmentOwners
        watch = TaskWatch(Thread.currentThread())
        val parking = MailboxParking(mailbox, MailboxSide.CHILD)
        try {
            mailbox.childPid = ProcessHandle.current().pid().toInt()
            try {
                for (c in spec.callables) callables[c.id] = CallableNames.resolve(c.name)
                spec.worker?.let { nested = Worker(WorkerSpec.fromJson(it).toConfig(), null, trace, spec.path) }
                spec.chip?.let { c ->
                    // A kernel that ignores its stall verdict would keep a core of this chip busy for good: end the
                    // JVM instead (exit 75), so the parent reports the chip dead and nothing keeps burning a CPU.
                    ThreadEndpoint.onStuck = { path, d ->
                        System.err.println("strata chip ${spec.path}: $path: task #${d.task.id} '${d.task.name}' ignored its stall verdict; ending this chip JVM")
                        Runtime.getRuntime().halt(EXIT_STUCK_KERNEL)
                    }
                    // The chip's programs run on this thread, bounded by the task watch (one thread hand-off less per task).
                    chip = startLocalChip(spec.path, c.index, c.config, trace, programOnCaller = true)
                    taskBoundNanos = c.config.syncTimeout.inWholeNanoseconds
                }
            } catch (t: Throwable) {
                mailbox.writeError(ErrorReport.PLAIN.code, t.javaClass.name, ErrorText.message(t), ErrorText.stack(t))
                answer(parking, MailboxState.INIT_FAILED)
                return EXIT_INIT_FAILED
            }
            return serve(parking, answer(parking, MailboxState.INIT_READY))
        } finally {
            try {
                nested?.close()
                chip?.close()
                writeTrace()
            } finally {
                parking.close()
                mappings.close()
                doorbell.close()
                file.close()
            }
        }
    }

    /**
     * Answers requests until told to stop. [published] is the state this child wrote last: the parent may
     * already have replaced it by a request, so waiting starts from what we wrote, not from what we read.
     */
    private fun serve(parking: MailboxParking, published: MailboxState): Int {
        var observed = published
        if (mailbox.isShutdownRequested) return 0 // asked to stop while starting (our ready answer hid the SHUTDOWN)
        while (true) {
            val s = parking.awaitChange(observed, spec.spinNanos, CHECK_NANOS)
            if (s == observed) { // nothing for a while: is the parent still there, did it ask us to stop?
                mailbox.beat()
                if (unistd_h.getppid().toLong() != spec.parentPid) return EXIT_ORPHAN
                if (mailbox.isShutdownRequested) return 0
                continue
            }
            observed = when (s) {
                MailboxState.TASK_READY -> runTask(parking)
                MailboxState.CONTROL_REQUEST -> control(parking)
                MailboxState.SHUTDOWN -> return 0
                else -> s
            }
            if (mailbox.isShutdownRequested) return 0
        }
    }

    private fun runTask(parking: MailboxParking): MailboxState {
        val seq = mailbox.dispatchSeq
        mailbox.taskStartNanos = 0 // a task that fails before it starts reports no start
        val c = chip
        watch.begin(seq, taskBoundNanos)
        var failure: Throwable? = null
        try {
            val task = TaskWire.decode(mailbox.name, mailbox.readArgs(), mappings, c?.let { it::resolve })
            val id = mailbox.callableId.toInt()
            val callable = callables[id] ?: throw IllegalStateException("callable id $id was never registered in ${spec.path}")
            mailbox.taskStartNanos = System.nanoTime()
            if (c != null) {
                c.execute(callable, task.args, task.member, task.groupSize)
            } else {
                callable.call(TaskContext(task.args, task.member, task.groupSize, spec.path, nested))
            }
        } catch (t: Throwable) {
            failure = t
        }
        mailbox.taskEndNanos = System.nanoTime()
        watch.end() // and an interrupt the task left set (or a late cancel) must not reach the next task
        // A task that overran its bound failed for that reason, whatever its interrupt made it throw (or not).
        val t = watch.overrunOf(seq) ?: failure
        val outcome = when {
            t == null -> MailboxState.TASK_DONE
            t is TaskFailedException -> { // a nested run failed: keep its path and coordinates for the parent
                mailbox.writeError(
                    ErrorReport.NESTED.code, t.errorClass, t.errorMessage,
                    "${t.workerPath}\n${t.taskId}\n${t.taskName}\n${t.errorStack}",
                )
                MailboxState.TASK_FAILED
            }
            else -> {
                mailbox.writeError(ErrorReport.PLAIN.code, t.javaClass.name, ErrorText.message(t), ErrorText.stack(t))
                MailboxState.TASK_FAILED
            }
        }
        mailbox.beat()
        return answer(parking, outcome, seq)
    }

    private fun control(parking: MailboxParking): MailboxState {
        val seq = mailbox.dispatchSeq
        try {
            val op = TaskWire.decodeOp(mailbox.name, mailbox.readArgs())
            var reply = NO_REPLY
            when (op.op) {
                ControlOp.PING -> Unit
                ControlOp.REGISTER -> callables[op.id] = CallableNames.resolve(op.text)
                else -> reply = chipControl(op)
            }
            mailbox.writeArgs(reply)
        } catch (t: Throwable) {
            mailbox.writeError(ErrorReport.PLAIN.code, t.javaClass.name, ErrorText.message(t), ErrorText.stack(t))
        }
        return answer(parking, MailboxState.CONTROL_DONE, seq)
    }

    /** A chip memory operation or context request; the reply payload. */
    private fun chipControl(op: TaskWire.Op): ByteArray {
        val c = chip ?: throw IllegalArgumentException("control op ${op.op} needs a chip, and ${spec.path} is not one")
        fun staged(): java.lang.foreign.MemorySegment = mappings.buffer(op.text, op.longs[1], op.longs[2], Access.READ_WRITE).segment!!
        return when (op.op) {
            ControlOp.MALLOC -> java.nio.ByteBuffer.allocate(8).order(java.nio.ByteOrder.LITTLE_ENDIAN).putLong(c.malloc(op.longs[0])).array()
            ControlOp.FREE -> NO_REPLY.also { c.free(op.longs[0]) }
            ControlOp.COPY_TO -> NO_REPLY.also { c.copyToDevice(op.longs[0], staged()) }
            ControlOp.COPY_FROM -> NO_REPLY.also { c.copyFromDevice(staged(), op.longs[0]) }
            ControlOp.CHIP_CONTEXT -> kotlinx.serialization.json.Json.encodeToString(ChipContextWire.serializer(), c.contextWire()).toByteArray()
            ControlOp.COMM_ROOT_INFO -> c.commRootInfo(kotlinx.serialization.json.Json.decodeFromString(CommDomainSpec.serializer(), op.text))
            ControlOp.COMM_INIT -> NO_REPLY.also {
                val j = kotlinx.serialization.json.Json.decodeFromString(CommJoin.serializer(), op.text)
                c.commInit(j.spec, j.rank, java.util.Base64.getDecoder().decode(j.rootInfo), j.timeoutMillis.milliseconds)
            }
            ControlOp.COMM_RELEASE -> NO_REPLY.also { c.commRelease(op.text) }
            ControlOp.PING, ControlOp.REGISTER -> throw IllegalArgumentException("control op ${op.op} is not a chip operation")
        }
    }

    /** Echoes [seq] (the request's dispatch seq), publishes [state] and rings the parent's doorbell. */
    private fun answer(parking: MailboxParking, state: MailboxState, seq: Long = 0): MailboxState {
        mailbox.answerSeq = seq
        parking.publish(state)
        doorbell.ring()
        return state
    }

    /** SIGKILL when the parent dies; false if it is already gone. */
    private fun tieToParent(): Boolean {
        Arena.ofConfined().use { a ->
            val errno = errno_h.allocateCapture(a)
            if (sys_prctl_h.prctl(errno, sys_prctl_h.PR_SET_PDEATHSIG, signal_h.SIGKILL.toLong()) != 0) {
                System.err.println("strata child ${spec.path}: prctl(PR_SET_PDEATHSIG) failed, errno ${errno_h.errno(errno)}; relying on the parent-pid check")
            }
        }
        return unistd_h.getppid().toLong() == spec.parentPid
    }

    private companion object {
        /** How often an idle child checks its parent pid and the shutdown word (PDEATHSIG is the fast path). */
        const val CHECK_NANOS = 2_000_000_000L
        const val EXIT_INIT_FAILED = 1
        const val EXIT_ORPHAN = 70
        const val EXIT_STUCK_KERNEL = 75

        /** A chip program ran past its `syncTimeout` and ignored the interrupt for [STUCK_GRACE_NANOS]. */
        const val EXIT_STUCK_PROGRAM = 76

        /** How long a chip program that overran its `syncTimeout` has to end after its interrupt. */
        const val STUCK_GRACE_NANOS = 2_000_000_000L

        /** The longest bound the watch keeps (a `syncTimeout` of years is the same as none; no overflow). */
        const val MAX_BOUND_NANOS = Long.MAX_VALUE / 4

        /** The heartbeat's period while a task runs (and how often a cancel request is looked at). */
        const val BEAT_MILLIS = 50L
        const val BEAT_NANOS = BEAT_MILLIS * 1_000_000
        val NO_REPLY = ByteArray(0)
    }
}
