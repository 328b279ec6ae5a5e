package dev.strata.worker

/**
 * A library prints nothing on stdout of its own: kotlin-logging announces its logger factory there the
 * first time a logger is made, unless `kotlin-logging.logStartupMessage` says not to. Strata sets it to
 * false (before its first logger) when the application has not chosen; child JVMs get it on their command
 * line. This file holds no logger on purpose: calling [quietLoggingStartup] must not make one first.
 */
internal fun quietLoggingStartup() {
    if (System.getProperty(LOG_STARTUP_PROPERTY) == null) System.setProperty(LOG_STARTUP_PROPERTY, "false")
}

/** kotlin-logging's switch for its start-up line on stdout. */
internal const val LOG_STARTUP_PROPERTY: String = "kotlin-logging.logStartupMessage"
