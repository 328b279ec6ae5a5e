package dev.strata.error

/**
 * What error capture reads from a [Throwable] it did not make — class, message, stack — without ever
 * throwing: a user's exception may override `getMessage()`, `toString()` or `getStackTrace()` with code
 * that throws, and capture is the one place that must not fail (a worker thread or a child JVM would die
 * inside it and its run would never end). What cannot be read is replaced by a note that says so.
 */
internal object ErrorText {
    /** The message, or a note naming what `getMessage()` threw. */
    fun message(t: Throwable): String? = try {
        t.message
    } catch (e: Throwable) {
        "(its getMessage() threw ${e.javaClass.name})"
    }

    /** The stack as `printStackTrace` writes it; built from the frames alone when that throws. */
    fun stack(t: Throwable): String = try {
        t.stackTraceToString()
    } catch (e: Throwable) {
        buildString {
            append(t.javaClass.name).append(": ").append(message(t)).append(" (printing it threw ").append(e.javaClass.name).append(")\n")
            val frames = try {
                t.stackTrace
            } catch (_: Throwable) {
                emptyArray()
            }
            for (f in frames) append("\tat ").append(f).append('\n')
        }
    }

    /** Whether [t] can be printed (`toString()` works): only then may it be kept as a cause. */
    fun printable(t: Throwable): Boolean = try {
        t.toString()
        true
    } catch (_: Throwable) {
        false
    }
}
