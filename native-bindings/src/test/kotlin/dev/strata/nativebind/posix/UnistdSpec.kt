package dev.strata.nativebind.posix

import io.kotest.core.spec.style.FunSpec
import io.kotest.matchers.shouldBe

class UnistdSpec : FunSpec({
    test("getpid matches the JVM's own pid") {
        unistd_h.getpid().toLong() shouldBe ProcessHandle.current().pid()
    }
    test("getppid matches the JVM's parent pid") {
        unistd_h.getppid().toLong() shouldBe ProcessHandle.current().parent().get().pid()
    }
})
