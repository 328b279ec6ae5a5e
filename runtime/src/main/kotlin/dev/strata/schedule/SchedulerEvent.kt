package dev.strata.schedule

import dev.strata.endpoint.Dispatch
import dev.strata.graph.Run
import dev.strata.graph.Task

/**
 * What other threads tell a [Scheduler] through its inbox; they are handled one at a time, in the order
 * they were posted, by whichever thread holds the scheduler's token (the poster itself, unless another
 * thread is taking a step). The order matters: a run is admitted before any of its tasks can
 * be ready, and a completion is seen after the ready consumers its endpoint posted before it.
 *
 * An event object carries its fields to the thread that handles it: they are written before [Scheduler.post]
 * and read after the inbox hands the event over (the queue's offer/poll is the happens-before edge).
 */
internal sealed interface SchedulerEvent {
    /** [task]'s last producer (or its build guard) is gone: queue it for a worker. */
    class Ready(val task: Task) : SchedulerEvent

    /** An endpoint finished [dispatch], successfully or not (its fields say which, and what it already did). */
    class Completed(val dispatch: Dispatch) : SchedulerEvent

    /** [task] was published poisoned (a producer or its run failed meanwhile): skip it and what waits on it. */
    class Skip(val task: Task) : SchedulerEvent

    /** [run] was admitted: its tasks dispatch once the runs before it finished. */
    class RunAdmitted(val run: Run) : SchedulerEvent

    /** [run]'s last task or its build ended it: do the end-of-run bookkeeping. */
    class RunFinished(val run: Run) : SchedulerEvent

    /** [run] failed or was cancelled: skip what it holds back and its gates. */
    class RunFailed(val run: Run) : SchedulerEvent

    /** The stall watchdog gave up on [run]: skip what has not started and end it now. */
    class RunAbandoned(val run: Run) : SchedulerEvent
}
