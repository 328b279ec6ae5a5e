package dev.strata.task

import java.lang.invoke.MethodHandle
import java.lang.invoke.MethodHandles
import java.lang.invoke.MethodType
import java.lang.reflect.Modifier
import kotlin.reflect.KFunction1

/**
 * A task callable that is a top-level function, found by name — so it can also run in a child JVM
 * (`Isolation.PROCESS`), where a lambda could not be found:
 *
 * ```
 * fun scale(ctx: TaskContext) { … }            // top level, in any file
 * submit(sub, callable(::scale), { inout(x) })
 * ```
 *
 * Throws [IllegalArgumentException] if [function] is not a top-level function (a member, a local
 * function or a lambda has no name another JVM can look up).
 */
public fun callable(function: KFunction1<TaskContext, Unit>): TaskCallable {
    val ref = function as? kotlin.jvm.internal.CallableReference
        ?: throw IllegalArgumentException("callable(::f) needs a function reference, got ${function.javaClass.name}")
    val owner = (ref.owner as? kotlin.jvm.internal.ClassBasedDeclarationContainer)?.jClass
        ?: throw IllegalArgumentException("${ref.name} has no owner class; pass a top-level function")
    return FunctionCallable.of(owner.name, ref.name)
}

/** A static method `name(TaskContext)` of [ownerClass] (a Kotlin file facade such as `KernelsKt`), by name. */
public class FunctionCallable private constructor(
    public val ownerClass: String,
    public val functionName: String,
    private val handle: MethodHandle,
) : TaskCallable {
    override fun call(context: TaskContext) {
        handle.invokeExact(context)
    }

    /** `fun:<owner>#<name>`: how the callable is named across processes. */
    public val stableName: String get() = "$PREFIX$ownerClass#$functionName"

    override fun toString(): String = "$ownerClass.$functionName"
    override fun equals(other: Any?): Boolean = other is FunctionCallable && other.stableName == stableName
    override fun hashCode(): Int = stableName.hashCode()

    public companion object {
        internal const val PREFIX = "fun:"

        /** Looks the function up; throws [IllegalArgumentException] saying what is missing. */
        @JvmStatic
        public fun of(ownerClass: String, functionName: String): FunctionCallable {
            val owner = try {
                // Not initialised here: only once it is known to hold the function (its first call initialises it).
                Class.forName(ownerClass, false, Thread.currentThread().contextClassLoader ?: FunctionCallable::class.java.classLoader)
            } catch (e: ClassNotFoundException) {
                throw IllegalArgumentException("class $ownerClass of function $functionName is not on the classpath", e)
            }
            val method = owner.declaredMethods.firstOrNull {
                it.name == functionName && Modifier.isStatic(it.modifiers) &&
                    it.parameterTypes.contentEquals(arrayOf(TaskContext::class.java))
            } ?: throw IllegalArgumentException(
                "$ownerClass has no top-level function $functionName(TaskContext); callable(::f) takes top-level " +
                    "functions (not members, local functions or lambdas)",
            )
            method.isAccessible = true
            val handle = MethodHandles.lookup().unreflect(method)
                .asType(MethodType.methodType(Void.TYPE, TaskContext::class.java))
            return FunctionCallable(ownerClass, functionName, handle)
        }
    }
}
