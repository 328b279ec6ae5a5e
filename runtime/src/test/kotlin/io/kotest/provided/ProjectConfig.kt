package io.kotest.provided

import dev.strata.process.assertNoLeftovers
import io.kotest.core.config.AbstractProjectConfig

/**
 * After the whole runtime suite: no child process of this JVM is alive and no shared-memory file it
 * created is left (issue 3 §8). Specs that start children also check after each test; this catches
 * what a spec without such a check leaves. Set `-Dstrata.leftovers.selftest=true` to see it fail.
 */
class ProjectConfig : AbstractProjectConfig() {
    override suspend fun afterProject() {
        if (System.getProperty("strata.leftovers.selftest") == "true") {
            java.nio.file.Files.createFile(dev.strata.shm.SharedMemoryFile.DIRECTORY.resolve("strata-${ProcessHandle.current().pid()}-selftest-0"))
        }
        assertNoLeftovers("the runtime suite")
    }
}
