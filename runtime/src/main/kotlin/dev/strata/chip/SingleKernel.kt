package dev.strata.chip

import dev.strata.task.TaskCallable
import dev.strata.task.TaskContext

/**
 * A chip callable that is one kernel: it runs [kernel] with the task's own arguments on the first core
 * (of [coreType] when given) through the chip's level-2 engine. The shortcut for the common case; write a
 * level-2 program (a callable that runs `ctx.worker.run { submit(core(i), …) }`) to use several cores.
 */
public class SingleKernel internal constructor(
    /** The kernel the chip runs. */
    public val kernel: TaskCallable,
    /** The type of core it runs on, or null for the chip's first core. */
    public val coreType: String?,
) : TaskCallable {
    private val name: String = kernel.javaClass.simpleName.ifEmpty { kernel.javaClass.name }

    override fun call(context: TaskContext) {
        val chip = context.chip
        val target = if (coreType == null) chip.cores[0] else chip.cores(coreType)[0]
        val args = context.args
        context.worker.run { submit(target, kernel, args, name) }
    }

    override fun equals(other: Any?): Boolean = other is SingleKernel && other.kernel == kernel && other.coreType == coreType
    override fun hashCode(): Int = kernel.hashCode() * 31 + (coreType?.hashCode() ?: 0)
    override fun toString(): String = "kernel($name${coreType?.let { " on $it" } ?: ""})"
}

/**
 * A chip callable that runs [kernel] on one core (of [coreType], or the first core) with the task's
 * arguments: `submit(chip(0), "add", { input(a); input(b); output(c) }, kernel(VectorAdd))` (the arguments
 * block comes before the callable, which is last so it may be a trailing lambda). Crosses into a chip's
 * JVM when [kernel] does (an `object`, a class with a no-arg constructor, or `callable(::f)`).
 */
public fun kernel(kernel: TaskCallable, coreType: String? = null): TaskCallable = SingleKernel(kernel, coreType)
