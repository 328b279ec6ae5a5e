package dev.strata.process

import dev.strata.task.TaskCallable
import dev.strata.task.TaskContext
import dev.strata.child.CurrentChild

/** Callables the process tests send to child JVMs (top level: found there by name). */

/** Adds scalar 0 to every I32 element of tensor 0 (INOUT) and records the child's pid in element 0 of tensor 1 if given. */
object AddScalar : TaskCallable {
    override fun call(context: TaskContext) {
        val t = context.tensor(0)
        val n = t.size(0)
        for (i in 0 until n) t.setInt(i, t.getInt(i) + context.scalar(0).toInt())
        if (context.args.tensorCount > 1) context.tensor(1).setLong(0, ProcessHandle.current().pid())
    }
}

/** Does nothing (latency and liveness). */
object NoOp : TaskCallable {
    override fun call(context: TaskContext) = Unit
}

/** Throws an IllegalStateException whose message holds a newline and the member index. */
object Throws : TaskCallable {
    override fun call(context: TaskContext) {
        throw IllegalStateException("kernel exploded\non member ${context.memberIndex}")
    }
}

/** Exits the child JVM with the code in scalar 0 (a crash). */
object Exits : TaskCallable {
    override fun call(context: TaskContext) {
        Runtime.getRuntime().halt(context.scalar(0).toInt())
    }
}

/** Spins for scalar 0 milliseconds, ignoring interrupts (a kernel that cannot be stopped politely). */
object SpinsDeaf : TaskCallable {
    override fun call(context: TaskContext) {
        val end = System.nanoTime() + context.scalar(0) * 1_000_000
        while (System.nanoTime() < end) Thread.onSpinWait()
    }
}

/** Sleeps scalar 0 milliseconds. */
object Sleeps : TaskCallable {
    override fun call(context: TaskContext) = Thread.sleep(context.scalar(0))
}

/** A class with a no-arg constructor (instantiated in the child). */
class Doubler : TaskCallable {
    override fun call(context: TaskContext) {
        val t = context.tensor(0)
        for (i in 0 until t.size(0)) t.setInt(i, t.getInt(i) * 2)
    }
}

/** A top-level function, sent as callable(::negate). */
fun negate(context: TaskContext) {
    val t = context.tensor(0)
    for (i in 0 until t.size(0)) t.setInt(i, -t.getInt(i))
}

/** Cannot be created in the child: its constructor throws (start-up failure). */
class BrokenAtInit : TaskCallable {
    init {
        if (CurrentChild.current != null) throw IllegalStateException("BrokenAtInit refuses to load in ${CurrentChild.current!!.spec.path}")
    }
    override fun call(context: TaskContext) = Unit
}

/** In child `…#1`: exits with status 3 while being created; in any other child: hangs (one dies, its sibling waits). */
class DiesOrHangsAtInit : TaskCallable {
    init {
        val child = CurrentChild.current
        if (child != null) {
            if (child.spec.path.endsWith("#1")) Runtime.getRuntime().halt(3) else Thread.sleep(Long.MAX_VALUE)
        }
    }
    override fun call(context: TaskContext) = Unit
}

/** Hangs forever while being created in the child (a hung start-up). */
class HangsAtInit : TaskCallable {
    init {
        if (CurrentChild.current != null) Thread.sleep(Long.MAX_VALUE)
    }
    override fun call(context: TaskContext) = Unit
}

/**
 * Breaks the protocol from inside the child: scalar 0 picks how (1 unknown state, 2 oversize error length,
 * 3 bad magic, 4 a forged TASK_DONE while the task still runs: its output is never written).
 */
object WritesGarbage : TaskCallable {
    override fun call(context: TaskContext) {
        val loop = CurrentChild.current!!
        val seg = loop.mailbox.segment
        val int = java.lang.foreign.ValueLayout.JAVA_INT
        val how = context.scalar(0).toInt()
        if (how != 4) loop.mailbox.answerSeq = loop.mailbox.dispatchSeq // an answer to the right request, just malformed
        when (how) {
            1 -> seg.set(int, dev.strata.mailbox.MailboxLayout.STATE_OFFSET, 77)
            2 -> {
                seg.set(int, dev.strata.mailbox.MailboxLayout.ERROR_CODE_OFFSET, 1)
                seg.set(int, dev.strata.mailbox.MailboxLayout.ERROR_LENGTH_OFFSET, Int.MAX_VALUE)
                seg.set(int, dev.strata.mailbox.MailboxLayout.STATE_OFFSET, dev.strata.mailbox.MailboxState.TASK_FAILED.code)
            }
            3 -> {
                seg.set(int, dev.strata.mailbox.MailboxLayout.MAGIC_OFFSET, 0xBAD)
                seg.set(int, dev.strata.mailbox.MailboxLayout.STATE_OFFSET, dev.strata.mailbox.MailboxState.TASK_DONE.code)
            }
            4 -> seg.set(int, dev.strata.mailbox.MailboxLayout.STATE_OFFSET, dev.strata.mailbox.MailboxState.TASK_DONE.code)
        }
        loop.doorbell.ring()
        Thread.sleep(60_000) // the parent kills us
    }
}

/** On a next-level child that is a worker: runs one sub task there that throws (the error chain). */
object NestedFailure : TaskCallable {
    override fun call(context: TaskContext) {
        context.worker.run { submit(dev.strata.task.Target.Sub, Throws, dev.strata.task.TaskArgs.EMPTY, "inner-kernel") }
    }
}

/** On a next-level child that is a worker: adds scalar 0 to tensor 0 through one of its sub workers. */
object NestedAdd : TaskCallable {
    override fun call(context: TaskContext) {
        val x = context.tensor(0)
        val by = context.scalar(0)
        context.worker.run {
            submit(dev.strata.task.Target.Sub, AddScalar, dev.strata.task.TaskArgs.build { inout(x); scalar(by) }, "inner-add")
        }
    }
}

/** Copies the I32 elements of tensor 0 into tensor 1. */
object CopyInts : TaskCallable {
    override fun call(context: TaskContext) {
        val a = context.tensor(0)
        val b = context.tensor(1)
        for (i in 0 until a.size(0)) b.setInt(i, a.getInt(i))
    }
}

/** Not a callable; initialising it in a child would kill that child (what a forged register request could try). */
object NotACallable {
    init {
        if (CurrentChild.current != null) Runtime.getRuntime().halt(7)
    }
}
