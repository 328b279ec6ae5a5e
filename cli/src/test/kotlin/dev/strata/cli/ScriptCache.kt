package dev.strata.cli

import io.kotest.core.spec.style.FunSpec
import io.kotest.engine.spec.tempdir
import java.io.File

/**
 * Points the script cache (`strata.script.cache.dir`) at a temporary directory named after [prefix] for
 * this spec, restoring the previous setting after it; returns the directory (scripts may be written there).
 */
internal fun FunSpec.privateScriptCache(prefix: String): File {
    val dir = tempdir(prefix)
    val saved = System.getProperty(PROPERTY)
    beforeSpec { System.setProperty(PROPERTY, dir.path) }
    afterSpec { if (saved == null) System.clearProperty(PROPERTY) else System.setProperty(PROPERTY, saved) }
    return dir
}

private const val PROPERTY = "strata.script.cache.dir"
