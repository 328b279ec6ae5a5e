package dev.strata.worker

/**
 * Where a worker's children of one kind run (DESIGN.md §7–8).
 *
 * - [THREAD]: a dedicated thread in this JVM. Any callable works, capturing lambdas included; a child
 *   that throws fails its task, but a child that crashes the JVM takes the parent with it.
 * - [PROCESS]: a child JVM reached through a shared-memory mailbox. A crash, `System.exit` or
 *   SIGKILL in the child fails only its tasks ([dev.strata.error.WorkerDiedException]); native drivers
 *   get one device per process. Callables cross by name (an `object`, a class with a no-arg
 *   constructor, or `callable(::topLevelFunction)`), and tensor arguments must live in shared memory
 *   (`Worker.hostTensor` and `alloc` give shared memory on such workers).
 */
public enum class Isolation { THREAD, PROCESS }
