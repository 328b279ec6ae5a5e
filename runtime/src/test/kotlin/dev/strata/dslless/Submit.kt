package dev.strata.dslless

import dev.strata.task.Orchestrator
import dev.strata.task.TaskArgs
import dev.strata.task.TaskCallable
import dev.strata.task.Target

/** Test shorthand for the engine's submit without the DSL module. */
internal suspend fun Orchestrator.submitTo(target: Target, callable: TaskCallable, args: TaskArgs = TaskArgs.EMPTY, name: String? = null) =
    submit(target, callable, args, name)
