package dev.strata.task

import dev.strata.tensor.Buffer
import dev.strata.tensor.DType
import dev.strata.tensor.Tag
import io.kotest.core.spec.style.FunSpec
import io.kotest.matchers.shouldBe
import io.kotest.matchers.types.shouldBeSameInstanceAs
import java.util.concurrent.CyclicBarrier
import kotlin.concurrent.thread

class TaskArgsSpec : FunSpec({
    val placeholder = Buffer.host(64, "placeholder")
    val own = Buffer.host(16, "own")
    val template = TaskArgs.build {
        input(placeholder.tensor(DType.F32, 16).slice(0, 4, 8))
        noDep(own.tensor(DType.I32, 4))
        output(placeholder.tensor(DType.F32, 16).slice(0, 8, 12))
        scalar(7)
    }

    test("a rebound view moves the parameter's views onto the binding, shares the rest, keeps tags and scalars") {
        val bound = Buffer.host(128, "bound")
        val args = template.rebound(intArrayOf(0, 0, 2, 0), TaskArgs.Rebinding(arrayOf(bound), longArrayOf(32)))
        args.tensorCount shouldBe 3
        args.tensor(0).buffer shouldBeSameInstanceAs bound
        args.tensor(0).byteOffset shouldBe 32 + 16L
        args.tensor(0).shape.toList() shouldBe listOf(4L)
        args.tensor(2).byteOffset shouldBe 32 + 32L
        args.arg(2).tag shouldBe Tag.OUTPUT
        args.arg(1) shouldBeSameInstanceAs template.arg(1) // not a parameter: shared, not copied
        args.scalar(0) shouldBe 7L
        args.tensor(0) shouldBeSameInstanceAs args.tensor(0) // resolved once
        template.tensor(0).buffer shouldBeSameInstanceAs placeholder // the recording is untouched
    }

    test("threads reading a rebound view at once all see the same binding") {
        val bound = Buffer.host(64, "bound")
        repeat(50) {
            val args = template.rebound(intArrayOf(0, 0), TaskArgs.Rebinding(arrayOf(bound), longArrayOf(0)))
            val barrier = CyclicBarrier(4)
            val seen = arrayOfNulls<Long>(4)
            List(4) { k -> thread { barrier.await(); seen[k] = args.tensor(0).byteOffset + if (args.tensor(0).buffer === bound) 0 else 1_000 } }
                .forEach { it.join(10_000) }
            seen.toList() shouldBe List(4) { 16L }
        }
    }
})
