package dev.strata.child

/** Code running inside a child process can find its mailbox here (diagnostics and fault tests). */
internal object CurrentChild {
    @Volatile
    var current: ChildLoop? = null
}
