package dev.strata.process

import dev.strata.endpoint.Dispatch
import java.util.concurrent.CompletableFuture

/**
 * What a [ProcessEndpoint] sends through its mailbox, one at a time (the others wait in its queue): a task,
 * or a control request. Written and read under the endpoint's lock.
 */
internal sealed interface MailboxRequest {
    /** One member of a task: `TASK_READY`, answered `TASK_DONE` or `TASK_FAILED`. */
    class Task(val dispatch: Dispatch) : MailboxRequest

    /**
     * A control request ([op] with its operands) and its [reply]: `CONTROL_REQUEST`, answered `CONTROL_DONE`.
     * [forDispatch] is set for a registration sent before the first task that uses a callable: that task
     * follows once the child loaded it (or fails with the loading error). A request whose work is bounded
     * by its own timeout (a domain's bring-up) carries a [deadline] past it.
     */
    class Control(
        val op: ControlOp,
        val id: Int,
        val text: String,
        val forDispatch: Dispatch?,
        val longs: LongArray = LongArray(0),
        /** How long the child may take to answer; null: the endpoint's control timeout. */
        val deadline: kotlin.time.Duration? = null,
    ) : MailboxRequest {
        val reply = CompletableFuture<ByteArray>()
    }
}
