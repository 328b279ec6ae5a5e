package dev.strata.task

/**
 * Marks the receivers of Strata's builders (worker configuration, run programs, task arguments) so an
 * inner block cannot silently call an outer builder's functions.
 */
@DslMarker
@kotlin.annotation.Target(AnnotationTarget.CLASS, AnnotationTarget.TYPE)
public annotation class StrataDsl

/**
 * Marks API that exists for Strata's own modules (the DSL) and may change without notice.
 */
@RequiresOptIn("Strata-internal API: used by Strata's own modules, may change without notice", RequiresOptIn.Level.ERROR)
@Retention(AnnotationRetention.BINARY)
public annotation class InternalStrataApi
