package dev.strata.mailbox

/**
 * The values of a mailbox's state word (docs/protocol.md has the state machine). The parent writes
 * `TASK_READY`, `CONTROL_REQUEST`, `SHUTDOWN` and `IDLE`; the child writes `INIT_READY`, `INIT_FAILED`,
 * `TASK_DONE`, `TASK_FAILED` and `CONTROL_DONE`.
 */
public enum class MailboxState(public val code: Int) {
    IDLE(0),
    TASK_READY(1),
    TASK_DONE(2),
    TASK_FAILED(3),
    CONTROL_REQUEST(4),
    CONTROL_DONE(5),
    SHUTDOWN(6),
    INIT_READY(7),
    INIT_FAILED(8);

    public companion object {
        private val byCode = entries.associateBy { it.code }

        /** The state with [code], or null for a value no peer may write (a corrupt mailbox). */
        public fun ofCode(code: Int): MailboxState? = byCode[code]
    }
}
