package dev.strata.process

/**
 * The control requests a parent sends a child in its mailbox (`CONTROL_REQUEST`), by the code on the wire
 * (docs/protocol.md, "What travels in the args blob"; `MailboxLayoutSpec` holds the two equal).
 */
internal enum class ControlOp(val code: Int) {
    /** Liveness and round trip (`Worker.ping`); reply empty. */
    PING(1),

    /** Load callable `text` under id `id`; reply empty (an error if it could not be loaded). */
    REGISTER(2),

    /** Chip memory: `longs = [bytes]`; reply the device pointer (8 bytes, little-endian). */
    MALLOC(3),

    /** Chip memory: `longs = [pointer]`; reply empty. */
    FREE(4),

    /** Host → device: `text` = shared file, `longs = [pointer, file offset, bytes]`; reply empty. */
    COPY_TO(5),

    /** Device → host: `text` = shared file, `longs = [pointer, file offset, bytes]`; reply empty. */
    COPY_FROM(6),

    /** The chip's context; reply its JSON (`ChipContextWire`). */
    CHIP_CONTEXT(7),

    /** Root info of a new domain (the chip is its rank 0): `text` = the domain's JSON (`CommDomainSpec`); reply the root info bytes. */
    COMM_ROOT_INFO(8),

    /** Join a domain: `text` = JSON `CommJoin` (spec, rank, root info, timeout); reply empty once every member joined. */
    COMM_INIT(9),

    /** Leave a domain: `text` = its name; reply empty. */
    COMM_RELEASE(10),
    ;

    companion object {
        private val byCode = entries.associateBy { it.code }

        /** The op of [code], or null for a code no op has (the caller reports a protocol violation). */
        fun of(code: Int): ControlOp? = byCode[code]
    }
}

/**
 * What a child's error report in the mailbox's error word is (docs/protocol.md, "Error reports";
 * `MailboxLayoutSpec` holds the two equal).
 */
internal enum class ErrorReport(val code: Int) {
    /** The failure happened in this child: the error region holds its class, message and stack. */
    PLAIN(1),

    /**
     * A nested worker in the child failed: the stack starts with the inner failure's path, task id and
     * name, one per line, so the parent can join every level's prefix.
     */
    NESTED(2),
    ;

    companion object {
        private val byCode = entries.associateBy { it.code }

        /** The report kind of [code]; null for an unknown code. */
        fun of(code: Int): ErrorReport? = byCode[code]
    }
}
