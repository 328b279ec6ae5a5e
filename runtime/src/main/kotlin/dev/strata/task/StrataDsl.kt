package dev.strata.task

/**
 * Marks the receivers of Strata's builders (worker configuration, run programs, task arguments) so an
 * inner block cannot silently call an outer builder's functions.
 */
@DslMarker
@kotlin.annotation.Target(AnnotationTarget.CLASS, AnnotationTarget.TYPE)
public annotation class StrataDsl

