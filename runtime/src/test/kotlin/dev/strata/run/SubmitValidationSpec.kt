package dev.strata.run

import dev.strata.task.TaskArgs
import dev.strata.task.Target
import dev.strata.tensor.Access
import dev.strata.tensor.AddressSpace
import dev.strata.tensor.Buffer
import dev.strata.tensor.DType
import dev.strata.tensor.Tag
import dev.strata.worker.NextLevelChild
import dev.strata.worker.Worker
import dev.strata.worker.WorkerConfig
import io.kotest.assertions.throwables.shouldThrow
import io.kotest.core.spec.style.FunSpec
import io.kotest.matchers.collections.shouldHaveSize
import io.kotest.matchers.shouldBe
import io.kotest.matchers.string.shouldContain
import io.kotest.matchers.types.shouldBeInstanceOf
import java.util.concurrent.atomic.AtomicInteger
import dev.strata.error.InvalidSubmitException
import dev.strata.error.SubmitProblem
import dev.strata.task.Orchestrator

/**
 * Submit validation (DESIGN.md §3): every problem of a submit is reported at once, before anything is
 * dispatched, each naming its culprit (argument index, buffer label, target).
 */
class SubmitValidationSpec : FunSpec({
    timeout = 60_000L

    /** A worker with 2 sub workers and 2 next-level children, for [block]. */
    fun withWorker(subs: Int = 2, block: (Worker) -> Unit) =
        Worker(WorkerConfig(subWorkers = subs, nextLevel = List(2) { NextLevelChild.Plain })).use(block)

    /** The InvalidSubmitException thrown by the submit in [program]; asserts nothing ran. */
    fun Worker.rejected(program: suspend Orchestrator.(ran: AtomicInteger) -> Unit): InvalidSubmitException {
        val ran = AtomicInteger()
        val e = shouldThrow<InvalidSubmitException> { run { program(ran) } }
        ran.get() shouldBe 0
        return e
    }

    test("a view that leaves its buffer: names the argument, the buffer and the bytes") {
        withWorker { w ->
            val buf = Buffer.host(16, "small")
            val inside = buf.tensor(DType.F32, 4)
            val outside = buf.view(DType.F32, 2, longArrayOf(4), longArrayOf(1)) // bytes [8, 24) of 16
            val e = w.rejected { ran -> submit(Target.Sub, { ran.incrementAndGet() }, TaskArgs.build { input(inside); input(outside) }, "reader") }
            val p = e.problems.single().shouldBeInstanceOf<SubmitProblem.ViewOutOfBounds>()
            p.argIndex shouldBe 1
            p.message shouldContain "argument 1"
            p.message shouldContain "'small'"
            p.message shouldContain "[8, 24)"
            e.message shouldContain "task 'reader' -> sub"
        }
    }

    test("a negative size is reported, not thrown from footprint arithmetic") {
        withWorker { w ->
            val t = Buffer.host(16, "neg").view(DType.F32, 0, longArrayOf(-2), longArrayOf(1))
            val e = w.rejected { ran -> submit(Target.Sub, { ran.incrementAndGet() }, TaskArgs.build { output(t) }) }
            val p = e.problems.single().shouldBeInstanceOf<SubmitProblem.NegativeShape>()
            p.message shouldContain "argument 0"
        }
    }

    test("overlapping writes in one task: names both arguments") {
        withWorker { w ->
            val x = w.hostTensor(DType.F32, 8, label = "x")
            val e = w.rejected { ran ->
                submit(Target.Sub, { ran.incrementAndGet() }, TaskArgs.build {
                    input(x)
                    output(x.slice(0, 0, 4))
                    inout(x.slice(0, 3, 8))
                }, "clobber")
            }
            val p = e.problems.single().shouldBeInstanceOf<SubmitProblem.OverlappingWrites>()
            p.first shouldBe (-1 to 1)
            p.second shouldBe (-1 to 2)
            p.message shouldContain "argument 1 and argument 2"
        }
    }

    test("disjoint writes and overlapping reads in one task are fine") {
        withWorker { w ->
            val x = w.hostTensor(DType.F32, 8)
            val ran = AtomicInteger()
            w.run {
                submit(Target.Sub, { ran.incrementAndGet() }, TaskArgs.build {
                    input(x)
                    input(x.slice(0, 2, 6))
                    output(x.slice(0, 0, 4, step = 2))
                    output(x.slice(0, 1, 4, step = 2))
                })
            }
            ran.get() shouldBe 1
        }
    }

    test("a write to a READ_ONLY buffer: names the argument, the tag and the buffer") {
        withWorker { w ->
            val ro = w.hostTensor(DType.F32, 4, label = "weights", access = Access.READ_ONLY)
            for (tag in listOf(Tag.OUTPUT, Tag.INOUT, Tag.OUTPUT_EXISTING)) {
                val e = w.rejected { ran -> submit(Target.Sub, { ran.incrementAndGet() }, TaskArgs.build { add(ro, tag) }) }
                val p = e.problems.single().shouldBeInstanceOf<SubmitProblem.AccessDenied>()
                p.tag shouldBe tag
                p.message shouldContain "argument 0 is tagged $tag"
                p.message shouldContain "'weights'"
                p.message shouldContain "READ_ONLY"
            }
            // Reading it is fine.
            w.run { submit(Target.Sub, { }, TaskArgs.build { input(ro) }) }
        }
    }

    test("an unknown target: a next-level index out of range, or sub on a worker without sub workers") {
        withWorker { w ->
            val e = w.rejected { ran -> submit(Target.Next(5), { ran.incrementAndGet() }, TaskArgs.EMPTY) }
            val p = e.problems.single().shouldBeInstanceOf<SubmitProblem.UnknownTarget>()
            p.target shouldBe Target.Next(5)
            p.message shouldContain "next#5"
            p.message shouldContain "0 until 2"
        }
        withWorker(subs = 0) { w ->
            val e = w.rejected { ran -> submit(Target.Sub, { ran.incrementAndGet() }, TaskArgs.EMPTY) }
            val p = e.problems.single().shouldBeInstanceOf<SubmitProblem.UnknownTarget>()
            p.message shouldContain "sub"
            p.message shouldContain "subWorkers"
        }
    }

    test("group shape: larger than the pool, duplicate next targets, mixed kinds, empty") {
        withWorker { w ->
            val tooBig = w.rejected { ran -> submitGroup(List(3) { Target.Sub }, { ran.incrementAndGet() }, List(3) { TaskArgs.EMPTY }) }
            tooBig.problems.single().shouldBeInstanceOf<SubmitProblem.GroupShape>().message shouldContain "3 sub workers; this worker has 2"

            val dup = w.rejected { ran ->
                submitGroup(listOf(Target.Next(1), Target.Next(1)), { ran.incrementAndGet() }, List(2) { TaskArgs.EMPTY })
            }
            dup.problems.single().shouldBeInstanceOf<SubmitProblem.GroupShape>().message shouldContain "distinct, got [1, 1]"

            val mixed = w.rejected { ran -> submitGroup(listOf(Target.Sub, Target.Next(0)), { ran.incrementAndGet() }, List(2) { TaskArgs.EMPTY }) }
            mixed.problems.single().shouldBeInstanceOf<SubmitProblem.GroupShape>().message shouldContain "not both"

            val empty = w.rejected { ran -> submitGroup(emptyList(), { ran.incrementAndGet() }, emptyList()) }
            empty.problems.single().shouldBeInstanceOf<SubmitProblem.EmptyGroup>()
        }
    }

    test("overlapping writes across members of a group name member and argument") {
        withWorker { w ->
            val x = w.hostTensor(DType.F32, 8, label = "x")
            val e = w.rejected { ran ->
                submitGroup(List(2) { Target.Sub }, { ran.incrementAndGet() }, listOf(
                    TaskArgs.build { output(x.slice(0, 0, 5)) },
                    TaskArgs.build { output(x.slice(0, 4, 8)) },
                ))
            }
            e.problems.single().shouldBeInstanceOf<SubmitProblem.OverlappingWrites>().message shouldContain
                "member 0 argument 0 and member 1 argument 0"
        }
    }

    test("a buffer allocated in a scope that has ended is rejected, naming the buffer") {
        withWorker { w ->
            val e = w.rejected { ran ->
                val stale = scope { alloc(DType.F32, 4) }
                stale.buffer.isReleased shouldBe true
                submit(Target.Sub, { ran.incrementAndGet() }, TaskArgs.build { input(stale) }, "late-reader")
            }
            val p = e.problems.single().shouldBeInstanceOf<SubmitProblem.ReleasedBuffer>()
            p.message shouldContain "argument 0"
            p.message shouldContain "'alloc#"
            p.message shouldContain "scope has ended"
        }
    }

    test("device memory sent to a worker that cannot address it names the memory and the target") {
        withWorker { w ->
            val dev1 = Buffer.opaque(64, AddressSpace.Device(1), "chip1-weights").tensor(DType.F32, 16)
            val toSub = w.rejected { ran -> submit(Target.Sub, { ran.incrementAndGet() }, TaskArgs.build { input(dev1) }) }
            toSub.problems.single().shouldBeInstanceOf<SubmitProblem.Unaddressable>().message shouldContain "DEVICE(1), which sub cannot"
            val toOther = w.rejected { ran -> submit(Target.Next(0), { ran.incrementAndGet() }, TaskArgs.build { input(dev1) }) }
            toOther.problems.single().shouldBeInstanceOf<SubmitProblem.Unaddressable>().message shouldContain "which next#0 cannot"
            val ran = AtomicInteger()
            w.run { submit(Target.Next(1), { ran.incrementAndGet() }, TaskArgs.build { input(dev1) }) }
            ran.get() shouldBe 1
        }
    }

    test("several problems in one submit are reported together in one exception") {
        withWorker { w ->
            val small = Buffer.host(16, "small")
            val ro = w.hostTensor(DType.F32, 4, label = "frozen", access = Access.READ_ONLY)
            val x = w.hostTensor(DType.F32, 8, label = "x")
            val e = w.rejected { ran ->
                submit(Target.Next(7), { ran.incrementAndGet() }, TaskArgs.build {
                    input(small.view(DType.F32, 3, longArrayOf(4), longArrayOf(1))) // 0: out of bounds
                    output(ro) // 1: read-only
                    output(x) // 2: overlaps 3
                    inout(x.slice(0, 2, 4)) // 3
                }, "everything-wrong")
            }
            e.problems shouldHaveSize 4
            e.problems.map { it::class } .toSet() shouldBe setOf(
                SubmitProblem.UnknownTarget::class,
                SubmitProblem.ViewOutOfBounds::class,
                SubmitProblem.AccessDenied::class,
                SubmitProblem.OverlappingWrites::class,
            )
            e.message shouldContain "4 problems"
            e.message shouldContain "task 'everything-wrong' -> next#7"
            for (p in e.problems) e.message shouldContain p.message
        }
    }

    test("a rejected submit caught by the program leaves the run going") {
        withWorker { w ->
            val ran = AtomicInteger()
            w.run {
                shouldThrow<InvalidSubmitException> { submit(Target.Next(9), { ran.incrementAndGet() }, TaskArgs.EMPTY) }
                submit(Target.Sub, { ran.incrementAndGet() }, TaskArgs.EMPTY)
            }
            ran.get() shouldBe 1
        }
    }
})
