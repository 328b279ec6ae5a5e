package dev.strata.child

import dev.strata.process.ChildLauncher
import io.kotest.core.spec.style.FunSpec
import io.kotest.matchers.shouldBe

class ChildMainSpec : FunSpec({
    test("the launcher names the child JVM's entry point by the class it is (it cannot import it: child sits above process)") {
        ChildLauncher.CHILD_MAIN shouldBe ChildMain::class.java.name
    }
})
