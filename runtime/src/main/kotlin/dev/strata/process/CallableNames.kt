package dev.strata.process

import dev.strata.chip.SingleKernel
import dev.strata.error.InvalidCallableException
import dev.strata.task.FunctionCallable
import dev.strata.task.TaskCallable
import java.lang.reflect.Modifier

/**
 * Callables by stable name (DESIGN.md §8). A name is what a child JVM needs to get the same callable:
 * - `obj:<class>` — a Kotlin `object` (its `INSTANCE`);
 * - `new:<class>` — a top-level or nested (static) class with a no-arg constructor, instantiated once per child;
 * - `fun:<facade>#<function>` — a top-level function given as `callable(::f)`.
 *
 * Lambdas, anonymous objects, local and inner classes have no such name (and may capture state that
 * does not exist in the child): they are rejected with [InvalidCallableException].
 */
internal object CallableNames {
    private val names = object : ClassValue<Result<String>>() {
        override fun computeValue(type: Class<*>): Result<String> = runCatching { nameOfClass(type) }
    }

    /** The stable name of [c], or throws [InvalidCallableException] saying why there is none and what to do. */
    fun stableName(c: TaskCallable): String = when (c) {
        is FunctionCallable -> c.stableName
        is SingleKernel -> "$KERNEL${c.coreType ?: ""}:${stableName(c.kernel)}"
        else -> names.get(c.javaClass).getOrThrow()
    }

    private fun nameOfClass(type: Class<*>): String {
        fun reject(what: String): Nothing = throw InvalidCallableException(
            type.name,
            "it is $what. A process-isolated worker receives callables by name in another JVM, where $what cannot be " +
                "found and whatever it captures does not exist. Use a top-level function (callable(::myKernel)), an " +
                "`object : TaskCallable`, or a top-level class with a no-arg constructor; or give this child kind " +
                "Isolation.THREAD, where any lambda works",
        )
        when {
            type.isHidden || type.name.contains("\$\$Lambda") -> reject("a lambda")
            type.isSynthetic -> reject("a synthetic class (a lambda or function reference)")
            type.isAnonymousClass -> reject("an anonymous object")
            type.isLocalClass -> reject("a local class")
            type.enclosingClass != null && !Modifier.isStatic(type.modifiers) -> reject("an inner class (it captures its outer instance)")
        }
        ChildLauncher.unreachableInChild(type)?.let { throw InvalidCallableException(type.name, it) }
        val instance = runCatching { type.getDeclaredField("INSTANCE") }.getOrNull()
        if (instance != null && Modifier.isStatic(instance.modifiers) && instance.type == type) return "obj:${type.name}"
        val ctor = runCatching { type.getDeclaredConstructor() }.getOrNull()
            ?: throw InvalidCallableException(
                type.name,
                "it has no no-arg constructor, so a child JVM cannot create it. Add one (keep configuration in task " +
                    "scalars and tensors), make it an `object`, or use a top-level function through callable(::f)",
            )
        if (Modifier.isAbstract(type.modifiers)) throw InvalidCallableException(type.name, "it is abstract")
        return "new:${type.name}"
    }

    /** Gets the callable named [name] in this JVM (the child's side). Throws with the reason if it cannot. */
    fun resolve(name: String): TaskCallable = try {
        load(name)
    } catch (e: java.lang.reflect.InvocationTargetException) {
        throw e.targetException // the constructor's own exception says what is wrong
    } catch (e: ExceptionInInitializerError) {
        throw e.exception ?: e
    }

    private fun load(name: String): TaskCallable {
        val loader = Thread.currentThread().contextClassLoader ?: CallableNames::class.java.classLoader
        return when {
            name.startsWith(KERNEL) -> {
                val rest = name.removePrefix(KERNEL)
                SingleKernel(load(rest.substringAfter(':')), rest.substringBefore(':').ifEmpty { null })
            }
            name.startsWith(FunctionCallable.PREFIX) -> {
                val rest = name.removePrefix(FunctionCallable.PREFIX)
                FunctionCallable.of(rest.substringBefore('#'), rest.substringAfter('#'))
            }
            name.startsWith("obj:") -> objectOf(callableClass(name.removePrefix("obj:"), loader)) as TaskCallable
            name.startsWith("new:") -> newInstanceOf(callableClass(name.removePrefix("new:"), loader)) as TaskCallable
            else -> throw IllegalArgumentException("'$name' is not a callable name (obj:, new:, fun: or kernel:)")
        }
    }

    /**
     * The class [name], loaded *without* initialising it, and only if it is a [TaskCallable]: a name read
     * from a mailbox never makes a child run an arbitrary class's static initialiser (issue 13 §17).
     */
    private fun callableClass(name: String, loader: ClassLoader): Class<*> {
        val type = Class.forName(name, false, loader)
        if (!TaskCallable::class.java.isAssignableFrom(type)) {
            throw IllegalArgumentException("$name is not a TaskCallable; a child loads and initialises only task callables")
        }
        return type
    }

    /** The `INSTANCE` of Kotlin `object` [type]. */
    fun objectOf(type: Class<*>): Any = type.getDeclaredField("INSTANCE").also { it.isAccessible = true }.get(null)

    /** A new instance of [type] through its no-arg constructor. */
    fun newInstanceOf(type: Class<*>): Any = type.getDeclaredConstructor().also { it.isAccessible = true }.newInstance()

    /** `kernel:<core type>:<kernel's name>`: a one-kernel chip callable. */
    private const val KERNEL = "kernel:"
}
