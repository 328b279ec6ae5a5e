package dev.strata.mailbox

import dev.strata.error.ProtocolException
import java.lang.foreign.MemorySegment
import java.lang.foreign.ValueLayout
import java.lang.invoke.VarHandle

/**
 * Typed access to one mailbox segment laid out by [MailboxLayout]. Payload fields are plain writes
 * published by a volatile store of the state word ([MailboxParking.publish], its only writer after
 * creation) and read after an acquire load of it: whoever observes a state also observes everything its
 * writer wrote before it.
 *
 * Lengths read from the segment are never trusted: one outside its region raises [ProtocolException]
 * naming the mailbox. One writer per field at a time (see docs/protocol.md); not otherwise thread-safe.
 */
public class Mailbox private constructor(
    /** Name for messages (the shared-memory file, or a test label). */
    public val name: String,
    /** The mapped bytes (same package: the parking protocol's flag words live here too). */
    internal val segment: MemorySegment,
    /** Bytes available for a task's or control's arguments. */
    public val argsCapacity: Int,
    /** Bytes available for an error report (at least 4 KiB). */
    public val errorCapacity: Int,
) {
    private val errorOffset = MailboxLayout.errorOffset(argsCapacity)

    /** The state, read with acquire semantics. Throws [ProtocolException] for a value no peer may write. */
    public fun state(): MailboxState {
        val code = INT.getAcquire(segment, MailboxLayout.STATE_OFFSET) as Int
        return MailboxState.ofCode(code) ?: throw ProtocolException(name, "unknown state $code")
    }

    /** Moves from [expected] to [next] atomically; false if the state was something else. */
    public fun transition(expected: MailboxState, next: MailboxState): Boolean =
        INT.compareAndSet(segment, MailboxLayout.STATE_OFFSET, expected.code, next.code) as Boolean

    /** The state word itself, for futex waits. */
    public val stateWord: MemorySegment get() = segment.asSlice(MailboxLayout.STATE_OFFSET, 4)

    /** Sets the sticky shutdown word; it is never cleared. */
    public fun requestShutdown() {
        INT.setRelease(segment, MailboxLayout.SHUTDOWN_OFFSET, 1)
    }

    public val isShutdownRequested: Boolean get() = (INT.getAcquire(segment, MailboxLayout.SHUTDOWN_OFFSET) as Int) != 0

    public var childPid: Int
        get() = INT.getAcquire(segment, MailboxLayout.CHILD_PID_OFFSET) as Int
        set(value) = INT.setRelease(segment, MailboxLayout.CHILD_PID_OFFSET, value)

    /** Advances the child's heartbeat counter. */
    public fun beat() {
        LONG.getAndAdd(segment, MailboxLayout.HEARTBEAT_OFFSET, 1L)
    }

    public val heartbeat: Long get() = LONG.getAcquire(segment, MailboxLayout.HEARTBEAT_OFFSET) as Long

    /**
     * The dispatch seq of a running task the parent asks the child to interrupt (its run was cancelled):
     * written by the parent at any time, read by the child's heartbeat thread while a task runs.
     */
    public var cancelSeq: Long
        get() = LONG.getAcquire(segment, MailboxLayout.CANCEL_SEQ_OFFSET) as Long
        set(value) = LONG.setRelease(segment, MailboxLayout.CANCEL_SEQ_OFFSET, value)

    public var dispatchSeq: Long
        get() = segment.get(ValueLayout.JAVA_LONG, MailboxLayout.DISPATCH_SEQ_OFFSET)
        set(value) = segment.set(ValueLayout.JAVA_LONG, MailboxLayout.DISPATCH_SEQ_OFFSET, value)

    /**
     * The dispatch seq of the request the child's answer belongs to: the child copies [dispatchSeq] here
     * before it publishes its answer, and the parent accepts an answer only when it matches the seq it
     * sent (a stray or forged state write is then a [ProtocolException], not a result).
     */
    public var answerSeq: Long
        get() = segment.get(ValueLayout.JAVA_LONG, MailboxLayout.ANSWER_SEQ_OFFSET)
        set(value) = segment.set(ValueLayout.JAVA_LONG, MailboxLayout.ANSWER_SEQ_OFFSET, value)

    /** When the child started and ended the task it answers ([System.nanoTime]), for the parent's trace. */
    public var taskStartNanos: Long
        get() = segment.get(ValueLayout.JAVA_LONG, MailboxLayout.TASK_START_OFFSET)
        set(value) = segment.set(ValueLayout.JAVA_LONG, MailboxLayout.TASK_START_OFFSET, value)

    public var taskEndNanos: Long
        get() = segment.get(ValueLayout.JAVA_LONG, MailboxLayout.TASK_END_OFFSET)
        set(value) = segment.set(ValueLayout.JAVA_LONG, MailboxLayout.TASK_END_OFFSET, value)

    public var callableId: Long
        get() = segment.get(ValueLayout.JAVA_LONG, MailboxLayout.CALLABLE_ID_OFFSET)
        set(value) = segment.set(ValueLayout.JAVA_LONG, MailboxLayout.CALLABLE_ID_OFFSET, value)

    /** Writes [bytes] as the arguments. Throws [IllegalArgumentException] if they exceed [argsCapacity]. */
    public fun writeArgs(bytes: ByteArray, length: Int = bytes.size) {
        require(length in 0..bytes.size) { "length $length outside [0, ${bytes.size}]" }
        require(length <= argsCapacity) {
            "arguments of $length B do not fit mailbox $name (args capacity $argsCapacity B); pass large data " +
                "as tensors in shared buffers rather than inline"
        }
        MemorySegment.copy(bytes, 0, segment, ValueLayout.JAVA_BYTE, MailboxLayout.ARGS_OFFSET, length)
        segment.set(ValueLayout.JAVA_INT, MailboxLayout.ARGS_LENGTH_OFFSET, length)
    }

    /** The arguments last written. Throws [ProtocolException] if the stored length is outside the region. */
    public fun readArgs(): ByteArray {
        val n = segment.get(ValueLayout.JAVA_INT, MailboxLayout.ARGS_LENGTH_OFFSET)
        if (n < 0 || n > argsCapacity) throw ProtocolException(name, "args length $n outside [0, $argsCapacity]")
        return ByteArray(n).also { MemorySegment.copy(segment, ValueLayout.JAVA_BYTE, MailboxLayout.ARGS_OFFSET, it, 0, n) }
    }

    /**
     * Writes an error report: [code] (non-zero), the exception's class, message and stack. Text that
     * does not fit is cut at a character boundary and ends with a marker saying how much was cut.
     */
    public fun writeError(code: Int, errorClass: String, message: String?, stack: String) {
        val msg = message?.let { fitMessage(errorClass, it, stack) }
        // class, then the message's length in chars ("-" for none) so a message may hold newlines, then the stack.
        val full = (errorClass + "\n" + (msg?.length?.toString() ?: "-") + "\n" + (msg ?: "") + "\n" + stack)
            .toByteArray(Charsets.UTF_8)
        val bytes = if (full.size <= errorCapacity) full else truncate(full)
        MemorySegment.copy(bytes, 0, segment, ValueLayout.JAVA_BYTE, errorOffset, bytes.size)
        segment.set(ValueLayout.JAVA_INT, MailboxLayout.ERROR_LENGTH_OFFSET, bytes.size)
        segment.set(ValueLayout.JAVA_INT, MailboxLayout.ERROR_CODE_OFFSET, code)
    }

    /**
     * [message], cut so that the top of [stack] still fits beside it (issue 13 §15): a long message keeps
     * its head and gives up at most what the stack needs, never more than half the region; a cut message
     * ends with a marker saying how many characters went. (What still does not fit is cut from the end of
     * the stack by [truncate].)
     */
    private fun fitMessage(errorClass: String, message: String, stack: String): String {
        val room = errorCapacity - MARKER_RESERVE * 2 - errorClass.length - 16 // bytes for message and stack
        val messageBytes = message.length * 3 // upper bound of its UTF-8 size
        if (messageBytes + stack.length * 3 <= room) return message
        val budget = maxOf(room / 2, room - stack.length * 3) / 3 // characters, safe for any UTF-8 width
        if (message.length <= budget) return message
        var keep = budget
        if (keep > 0 && Character.isHighSurrogate(message[keep - 1])) keep-- // do not split a surrogate pair
        return message.substring(0, keep) + "…[${message.length - keep} chars cut]"
    }

    /** The error report last written, or null if the error code is 0. */
    public fun readError(): MailboxError? {
        val code = segment.get(ValueLayout.JAVA_INT, MailboxLayout.ERROR_CODE_OFFSET)
        if (code == 0) return null
        val n = segment.get(ValueLayout.JAVA_INT, MailboxLayout.ERROR_LENGTH_OFFSET)
        if (n < 0 || n > errorCapacity) throw ProtocolException(name, "error length $n outside [0, $errorCapacity]")
        val bytes = ByteArray(n).also { MemorySegment.copy(segment, ValueLayout.JAVA_BYTE, errorOffset, it, 0, n) }
        return parseError(code, String(bytes, Charsets.UTF_8))
    }

    /** Clears the error code (the parent does so before each dispatch). */
    public fun clearError() {
        segment.set(ValueLayout.JAVA_INT, MailboxLayout.ERROR_CODE_OFFSET, 0)
    }

    private fun parseError(code: Int, text: String): MailboxError {
        val a = text.indexOf('\n')
        if (a < 0) return MailboxError(code, text, null, "")
        val b = text.indexOf('\n', a + 1)
        if (b < 0) return MailboxError(code, text.substring(0, a), null, "")
        val len = text.substring(a + 1, b).toIntOrNull()
        val msgEnd = if (len == null) b + 1 else minOf(text.length, b + 1 + len)
        val message = if (len == null) null else text.substring(b + 1, msgEnd)
        val stack = if (msgEnd < text.length) text.substring(msgEnd).removePrefix("\n") else ""
        return MailboxError(code, text.substring(0, a), message, stack)
    }

    private fun truncate(full: ByteArray): ByteArray {
        var keep = errorCapacity - MARKER_RESERVE
        // Do not cut a UTF-8 sequence in half: back up to the start of a character.
        while (keep > 0 && (full[keep].toInt() and 0xC0) == 0x80) keep--
        val marker = "\n…[${full.size - keep} bytes cut]".toByteArray(Charsets.UTF_8)
        return full.copyOf(keep) + marker
    }

    override fun toString(): String = "Mailbox($name)"

    public companion object {
        private val INT: VarHandle = ValueLayout.JAVA_INT.varHandle()
        private val LONG: VarHandle = ValueLayout.JAVA_LONG.varHandle()
        private const val MARKER_RESERVE = 64

        /** Lays a fresh mailbox out over [segment] (zeroed memory) and returns it; state is [MailboxState.IDLE]. */
        public fun create(
            name: String,
            segment: MemorySegment,
            argsCapacity: Int = MailboxLayout.DEFAULT_ARGS_CAPACITY,
            errorCapacity: Int = MailboxLayout.DEFAULT_ERROR_CAPACITY,
        ): Mailbox {
            require(errorCapacity >= MailboxLayout.MIN_ERROR_CAPACITY) {
                "error capacity must be >= ${MailboxLayout.MIN_ERROR_CAPACITY} B, was $errorCapacity"
            }
            val total = MailboxLayout.totalSize(argsCapacity, errorCapacity)
            require(segment.byteSize() >= total) { "segment of ${segment.byteSize()} B is smaller than the $total B mailbox" }
            segment.set(ValueLayout.JAVA_INT, MailboxLayout.VERSION_OFFSET, MailboxLayout.VERSION)
            segment.set(ValueLayout.JAVA_LONG, MailboxLayout.TOTAL_SIZE_OFFSET, total)
            segment.set(ValueLayout.JAVA_INT, MailboxLayout.ARGS_CAPACITY_OFFSET, argsCapacity)
            segment.set(ValueLayout.JAVA_INT, MailboxLayout.ERROR_CAPACITY_OFFSET, errorCapacity)
            INT.setRelease(segment, MailboxLayout.STATE_OFFSET, MailboxState.IDLE.code)
            // The magic goes last, with release semantics: a peer that sees it sees a complete header.
            INT.setRelease(segment, MailboxLayout.MAGIC_OFFSET, MailboxLayout.MAGIC)
            return Mailbox(name, segment, argsCapacity, errorCapacity)
        }

        /** Opens an existing mailbox, checking its header. Throws [ProtocolException] listing every problem. */
        public fun open(name: String, segment: MemorySegment): Mailbox {
            if (segment.byteSize() < MailboxLayout.ARGS_OFFSET) {
                throw ProtocolException(name, "segment of ${segment.byteSize()} B is smaller than the ${MailboxLayout.ARGS_OFFSET}-byte header")
            }
            val magic = INT.getAcquire(segment, MailboxLayout.MAGIC_OFFSET) as Int
            val version = segment.get(ValueLayout.JAVA_INT, MailboxLayout.VERSION_OFFSET)
            val total = segment.get(ValueLayout.JAVA_LONG, MailboxLayout.TOTAL_SIZE_OFFSET)
            val args = segment.get(ValueLayout.JAVA_INT, MailboxLayout.ARGS_CAPACITY_OFFSET)
            val err = segment.get(ValueLayout.JAVA_INT, MailboxLayout.ERROR_CAPACITY_OFFSET)
            val problems = MailboxLayout.check(segment.byteSize(), magic, version, total, args, err)
            if (problems.isNotEmpty()) throw ProtocolException(name, problems.joinToString("; "))
            return Mailbox(name, segment, args, err)
        }
    }
}

/** An error report read from a mailbox. */
public data class MailboxError(val code: Int, val errorClass: String, val message: String?, val stack: String)
