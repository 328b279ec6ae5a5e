package dev.strata.testkit

import dev.strata.task.TaskCallable
import dev.strata.task.TaskContext

/** out[i] = in[i] + scalar 0 (I32). */
object AddScalarInto : TaskCallable {
    override fun call(context: TaskContext) {
        val src = context.tensor(0)
        val dst = context.tensor(1)
        val k = context.scalar(0).toInt()
        for (i in 0L until dst.elementCount) dst.setInt(i, src.getInt(i) + k)
    }
}

/** out[i] = 3·a[i] + b[i] (I32). */
object Mix : TaskCallable {
    override fun call(context: TaskContext) {
        val a = context.tensor(0)
        val b = context.tensor(1)
        val dst = context.tensor(2)
        for (i in 0L until dst.elementCount) dst.setInt(i, 3 * a.getInt(i) + b.getInt(i))
    }
}

/** acc[i] = 31·acc[i] + in[i] (I32; acc is read and written: order-sensitive). */
object Accumulate : TaskCallable {
    override fun call(context: TaskContext) {
        val src = context.tensor(0)
        val acc = context.tensor(1)
        for (i in 0L until acc.elementCount) acc.setInt(i, 31 * acc.getInt(i) + src.getInt(i))
    }
}

/** Sleeps scalar 0 milliseconds, then acc[i] = 31·acc[i] + in[i]: late, so a task that should wait for it does not when tags lie. */
object SlowAccumulate : TaskCallable {
    override fun call(context: TaskContext) {
        Thread.sleep(context.scalar(0))
        Accumulate.call(context)
    }
}

/** The kernels random programs call in these specs. */
val KERNELS: List<KernelSpec> = listOf(
    KernelSpec("add", AddScalarInto, inputs = 1, outputs = 1, scalars = 1),
    KernelSpec("mix", Mix, inputs = 2, outputs = 1),
    KernelSpec("accumulate", Accumulate, inputs = 1, outputs = 1, outputTag = dev.strata.tensor.Tag.INOUT),
)

/** Sleeps 30 s (interruptibly) from its second call on: fast in the sequential reference, stuck on the worker. */
object StuckSecondTime : TaskCallable {
    val calls = java.util.concurrent.atomic.AtomicInteger()

    override fun call(context: TaskContext) {
        if (calls.incrementAndGet() >= 2) Thread.sleep(30_000)
    }
}
