package dev.strata.mailbox

/**
 * The one description of a mailbox segment's layout (Agrona-style descriptor): every offset is a named
 * constant computed here and nowhere else, fields that different processes write sit on different
 * 64-byte cache lines, and [check] says exactly what is wrong with a segment.
 *
 * ```
 *  line 0   0  magic (i32) | 4 version (i32) | 8 total size (i64) | 16 args capacity (i32) | 20 error capacity (i32) | 24 child pid (i32)
 *  line 1  64  state (i32)  — alone on its line: the word both sides spin and park on
 *  line 2 128  shutdown (i32, sticky) | 132 child parked (i32) | 136 parent parked (i32) | 144 heartbeat (i64) | 152 cancel seq (i64)
 *  line 3 192  dispatch seq (i64) | 200 callable id (i64) | 208 args length (i32) | 212 error code (i32) | 216 error length (i32)
 *          224  answer seq (i64) | 232 task start (i64) | 240 task end (i64)
 *         256  args blob   [ARGS_OFFSET, ARGS_OFFSET + args capacity)
 *              error region [errorOffset(args capacity), + error capacity), capacity >= 4096
 * ```
 * docs/protocol.md holds the same table; a test asserts they agree.
 */
public object MailboxLayout {
    public const val CACHE_LINE: Int = 64

    /** "STRM" in ASCII, big-endian reading. */
    public const val MAGIC: Int = 0x5354524D
    public const val VERSION: Int = 3

    public const val MAGIC_OFFSET: Long = 0
    public const val VERSION_OFFSET: Long = 4
    public const val TOTAL_SIZE_OFFSET: Long = 8
    public const val ARGS_CAPACITY_OFFSET: Long = 16
    public const val ERROR_CAPACITY_OFFSET: Long = 20
    public const val CHILD_PID_OFFSET: Long = 24

    public const val STATE_OFFSET: Long = 1L * CACHE_LINE

    public const val SHUTDOWN_OFFSET: Long = 2L * CACHE_LINE
    public const val CHILD_PARKED_OFFSET: Long = SHUTDOWN_OFFSET + 4
    public const val PARENT_PARKED_OFFSET: Long = SHUTDOWN_OFFSET + 8
    public const val HEARTBEAT_OFFSET: Long = SHUTDOWN_OFFSET + 16

    /** The dispatch seq of a task the parent wants interrupted (its run was cancelled); 0 for none. */
    public const val CANCEL_SEQ_OFFSET: Long = SHUTDOWN_OFFSET + 24

    public const val DISPATCH_SEQ_OFFSET: Long = 3L * CACHE_LINE
    public const val CALLABLE_ID_OFFSET: Long = DISPATCH_SEQ_OFFSET + 8
    public const val ARGS_LENGTH_OFFSET: Long = DISPATCH_SEQ_OFFSET + 16
    public const val ERROR_CODE_OFFSET: Long = DISPATCH_SEQ_OFFSET + 20
    public const val ERROR_LENGTH_OFFSET: Long = DISPATCH_SEQ_OFFSET + 24

    /** The dispatch seq of the request the child answers, written by it before the answer's state. */
    public const val ANSWER_SEQ_OFFSET: Long = DISPATCH_SEQ_OFFSET + 32

    /**
     * When the child started and ended the task it answers ([System.nanoTime]: on Linux the system-wide
     * monotonic clock, so the parent's timeline can use them as they are), written before the answer.
     */
    public const val TASK_START_OFFSET: Long = DISPATCH_SEQ_OFFSET + 40
    public const val TASK_END_OFFSET: Long = DISPATCH_SEQ_OFFSET + 48

    public const val ARGS_OFFSET: Long = 4L * CACHE_LINE

    public const val MIN_ERROR_CAPACITY: Int = 4096
    public const val DEFAULT_ARGS_CAPACITY: Int = 64 * 1024
    public const val DEFAULT_ERROR_CAPACITY: Int = 8 * 1024

    /** A field of the fixed part of the layout: what docs/protocol.md's table lists. */
    public data class Field(val name: String, val offset: Long, val size: Int, val writer: String)

    /** The fixed fields, in offset order. */
    public val FIELDS: List<Field> = listOf(
        Field("magic", MAGIC_OFFSET, 4, "parent (create)"),
        Field("version", VERSION_OFFSET, 4, "parent (create)"),
        Field("total size", TOTAL_SIZE_OFFSET, 8, "parent (create)"),
        Field("args capacity", ARGS_CAPACITY_OFFSET, 4, "parent (create)"),
        Field("error capacity", ERROR_CAPACITY_OFFSET, 4, "parent (create)"),
        Field("child pid", CHILD_PID_OFFSET, 4, "child (start)"),
        Field("state", STATE_OFFSET, 4, "both (see state machine)"),
        Field("shutdown", SHUTDOWN_OFFSET, 4, "parent (sticky)"),
        Field("child parked", CHILD_PARKED_OFFSET, 4, "child"),
        Field("parent parked", PARENT_PARKED_OFFSET, 4, "parent"),
        Field("heartbeat", HEARTBEAT_OFFSET, 8, "child"),
        Field("cancel seq", CANCEL_SEQ_OFFSET, 8, "parent"),
        Field("dispatch seq", DISPATCH_SEQ_OFFSET, 8, "parent"),
        Field("callable id", CALLABLE_ID_OFFSET, 8, "parent"),
        Field("args length", ARGS_LENGTH_OFFSET, 4, "parent (task), child (control reply)"),
        Field("error code", ERROR_CODE_OFFSET, 4, "child"),
        Field("error length", ERROR_LENGTH_OFFSET, 4, "child"),
        Field("answer seq", ANSWER_SEQ_OFFSET, 8, "child"),
        Field("task start", TASK_START_OFFSET, 8, "child"),
        Field("task end", TASK_END_OFFSET, 8, "child"),
    )

    /** Where the error region starts for [argsCapacity] bytes of args (cache-line aligned). */
    public fun errorOffset(argsCapacity: Int): Long = align(ARGS_OFFSET + argsCapacity)

    /** Bytes of a mailbox with these capacities. */
    public fun totalSize(argsCapacity: Int, errorCapacity: Int): Long = align(errorOffset(argsCapacity) + errorCapacity)

    /**
     * Every problem with the header of a [segmentSize]-byte segment whose header reads [magic], [version],
     * [totalSize], [argsCapacity], [errorCapacity]; empty when it is a well-formed mailbox.
     */
    public fun check(segmentSize: Long, magic: Int, version: Int, totalSize: Long, argsCapacity: Int, errorCapacity: Int): List<String> =
        buildList {
            if (segmentSize < ARGS_OFFSET) add("segment of $segmentSize B is smaller than the $ARGS_OFFSET-byte header")
            if (magic != MAGIC) add("magic is 0x${magic.toUInt().toString(16)}, expected 0x${MAGIC.toString(16)} (not a Strata mailbox)")
            if (version != VERSION) add("protocol version $version, this runtime speaks $VERSION (parent and child from different builds?)")
            if (argsCapacity < 0) add("args capacity $argsCapacity is negative")
            if (errorCapacity < MIN_ERROR_CAPACITY) add("error capacity $errorCapacity B is below the $MIN_ERROR_CAPACITY-byte minimum")
            if (argsCapacity >= 0 && errorCapacity >= 0 && totalSize != totalSize(argsCapacity, errorCapacity)) {
                add("header says $totalSize B but its capacities need ${totalSize(argsCapacity, errorCapacity)} B")
            }
            if (totalSize > segmentSize) add("header says $totalSize B but the segment has only $segmentSize B")
        }

    private fun align(n: Long): Long = (n + CACHE_LINE - 1) / CACHE_LINE * CACHE_LINE
}
