package dev.strata.process

import dev.strata.dslless.submitTo
import dev.strata.task.TaskArgs
import dev.strata.task.Target
import dev.strata.task.callable
import dev.strata.tensor.DType
import dev.strata.worker.Isolation
import dev.strata.worker.Worker
import dev.strata.worker.WorkerConfig
import io.kotest.core.spec.style.FunSpec
import io.kotest.matchers.shouldBe
import io.kotest.matchers.shouldNotBe
import io.kotest.matchers.string.shouldContain

class ProcessWorkerSpec : FunSpec({
    test("process sub workers run named callables on shared tensors and the parent sees the results") {
        Worker(WorkerConfig(level = 3, subWorkers = 2, subIsolation = Isolation.PROCESS)).use { w ->
            w.childPids.size shouldBe 2
            val x = w.hostTensor(DType.I32, 100)
            val pid = w.hostTensor(DType.I64, 1)
            for (i in 0 until 100L) x.setInt(i, i.toInt())
            w.run {
                submitTo(Target.Sub, AddScalar, TaskArgs.build { inout(x); output(pid); scalar(5) })
                submitTo(Target.Sub, Doubler(), TaskArgs.build { inout(x) })
                submitTo(Target.Sub, callable(::negate), TaskArgs.build { inout(x) })
            }
            for (i in 0 until 100L) x.getInt(i) shouldBe -(i.toInt() + 5) * 2
            pid.getLong(0) shouldNotBe ProcessHandle.current().pid()
            (pid.getLong(0) in w.childPids.values) shouldBe true
        }
    }
})

class ProcessWorkerApiSpec : FunSpec({
    afterEach { assertNoLeftovers() }

    test("a capturing lambda is rejected when registered, configured or submitted for a process child, with what to do instead") {
        val captured = 41
        val lambda = dev.strata.task.TaskCallable { ctx -> ctx.args.hashCode() + captured }
        val atConfig = io.kotest.assertions.throwables.shouldThrow<dev.strata.error.InvalidCallableException> {
            Worker(WorkerConfig(level = 3, subWorkers = 1, subIsolation = Isolation.PROCESS, callables = listOf(lambda)))
        }
        atConfig.message!! shouldContain "it is a lambda"
        atConfig.message!! shouldContain "callable(::myKernel)"
        atConfig.message!! shouldContain "Isolation.THREAD"
        Worker(WorkerConfig(level = 3, subWorkers = 1, subIsolation = Isolation.PROCESS)).use { w ->
            io.kotest.assertions.throwables.shouldThrow<dev.strata.error.InvalidCallableException> { w.register(lambda) }
            val anon = object : dev.strata.task.TaskCallable {
                override fun call(context: dev.strata.task.TaskContext) = Unit
            }
            val e = io.kotest.assertions.throwables.shouldThrow<dev.strata.error.InvalidCallableException> {
                w.run { submitTo(Target.Sub, anon) }
            }
            e.message!! shouldContain "an anonymous object"
            // The worker is unharmed: a named callable runs.
            w.run { submitTo(Target.Sub, NoOp) }
        }
        // In-process workers take any lambda.
        Worker(WorkerConfig(level = 3, subWorkers = 1)).use { w -> w.run { submitTo(Target.Sub, lambda) } }
    }

    test("the class-data archive cache keeps the newest archives and this classpath's, nothing else is touched") {
        val dir = java.nio.file.Files.createTempDirectory("strata-cds-test")
        try {
            val now = System.currentTimeMillis()
            val archives = List(12) { i ->
                dir.resolve("child-%02d.jsa".format(i)).also {
                    java.nio.file.Files.write(it, byteArrayOf(1))
                    java.nio.file.Files.setLastModifiedTime(it, java.nio.file.attribute.FileTime.fromMillis(now - i * 60_000L))
                }
            }
            val mine = archives.last() // the oldest, but this classpath's
            val other = dir.resolve("notes.txt").also { java.nio.file.Files.write(it, byteArrayOf(2)) }
            ChildLauncher.pruneArchives(dir, mine, max = 8)
            val left = java.nio.file.Files.list(dir).use { f -> f.map { it.fileName.toString() }.toList() }.sorted()
            left shouldBe (archives.take(7).map { it.fileName.toString() } + mine.fileName.toString() + other.fileName.toString()).sorted()
        } finally {
            dir.toFile().deleteRecursively()
        }
    }

    test("start-up progress: (0, n) first, then one report per child JVM as it is ready; a failing callback does not stop the start") {
        val seen = java.util.concurrent.CopyOnWriteArrayList<Pair<Int, Int>>()
        Worker(WorkerConfig(level = 3, subWorkers = 3, subIsolation = Isolation.PROCESS, startProgress = { r, t -> seen += r to t })).use { w ->
            w.run { submitTo(Target.Sub, NoOp) }
        }
        seen.first() shouldBe (0 to 3)
        seen.drop(1).map { it.first }.sorted() shouldBe listOf(1, 2, 3)
        seen.all { it.second == 3 } shouldBe true
        Worker(WorkerConfig(level = 3, subWorkers = 2, subIsolation = Isolation.PROCESS, startProgress = { _, _ -> error("a broken progress bar") })).use { w ->
            w.run { submitTo(Target.Sub, NoOp) }
        }
    }

    test("a callable compiled in memory (a notebook cell, a REPL line) is rejected for a process child, saying why and what to do") {
        val inMemory = inMemoryCallable()
        inMemory.javaClass.protectionDomain.codeSource?.location shouldBe null
        Worker(WorkerConfig(level = 3, subWorkers = 1, subIsolation = Isolation.PROCESS)).use { w ->
            val e = io.kotest.assertions.throwables.shouldThrow<dev.strata.error.InvalidCallableException> {
                w.run { submitTo(Target.Sub, inMemory) }
            }
            e.message!! shouldContain "dev.strata.gen.MemoryKernel"
            e.message!! shouldContain "compiled in memory"
            e.message!! shouldContain "Isolation.THREAD"
            e.message!! shouldContain ChildLauncher.EXTRA_CLASSPATH
            w.run { submitTo(Target.Sub, NoOp) }
        }
        // With threads the same callable runs.
        Worker(WorkerConfig(level = 3, subWorkers = 1)).use { w -> w.run { submitTo(Target.Sub, inMemory) } }
    }

    test("a tensor in private host memory is rejected for a process child, naming the argument and the fix") {
        Worker(WorkerConfig(level = 3, subWorkers = 1, subIsolation = Isolation.PROCESS)).use { w ->
            val private = dev.strata.tensor.Buffer.host(64, "scratch").tensor(DType.I32, 16)
            val e = io.kotest.assertions.throwables.shouldThrow<dev.strata.error.InvalidSubmitException> {
                w.run { submitTo(Target.Sub, AddScalar, TaskArgs.build { inout(private); scalar(1) }) }
            }
            e.message!! shouldContain "argument 0 is in private host memory (buffer 'scratch')"
            e.message!! shouldContain "hostTensor()"
        }
    }

    test("register loads a callable in every child ahead of use; ping answers from each child") {
        Worker(WorkerConfig(level = 3, subWorkers = 2, subIsolation = Isolation.PROCESS)).use { w ->
            w.register(Doubler())
            val pings = w.ping()
            pings.keys shouldBe setOf("L3 sub#0", "L3 sub#1")
            pings.values.all { it != null } shouldBe true
            val e = io.kotest.assertions.throwables.shouldThrow<dev.strata.error.InvalidCallableException> { w.register(BrokenAtInit()) }
            e.message!! shouldContain "BrokenAtInit refuses to load"
        }
    }

    test("a callable that cannot be loaded in the child fails its first task, naming it and the child's reason") {
        Worker(WorkerConfig(level = 3, subWorkers = 1, subIsolation = Isolation.PROCESS)).use { w ->
            val e = io.kotest.assertions.throwables.shouldThrow<dev.strata.error.TaskFailedException> {
                w.run { submitTo(Target.Sub, BrokenAtInit(), name = "never") }
            }
            e.workerPath shouldBe "L3 sub#0"
            e.errorClass shouldBe "dev.strata.error.InvalidCallableException"
            e.errorMessage!! shouldContain "BrokenAtInit refuses to load in L3 sub#0"
            w.run { submitTo(Target.Sub, NoOp) } // the child itself is fine
        }
    }

    test("alloc'd tensors, groups and plain next-level children work across processes") {
        Worker(
            WorkerConfig(
                level = 3, subWorkers = 3, subIsolation = Isolation.PROCESS,
                nextLevel = List(2) { dev.strata.worker.NextLevelChild.Plain }, nextIsolation = Isolation.PROCESS,
            ),
        ).use { w ->
            val out = w.hostTensor(DType.I32, 3, 4)
            w.run {
                scope {
                    val tmp = alloc(DType.I32, 3, 4)
                    submitGroup(List(3) { Target.Sub }, AddScalar, List(3) { i -> TaskArgs.build { inout(tmp.slice(0, i.toLong(), i + 1L).reshapeRow()); scalar(i + 1L) } })
                    submitTo(Target.Next(1), Doubler(), TaskArgs.build { inout(tmp.reshapeFlat()) })
                    submitTo(Target.Next(0), CopyInts, TaskArgs.build { input(tmp.reshapeFlat()); output(out.reshapeFlat()) })
                }
            }
            for (i in 0 until 3L) for (j in 0 until 4L) out.getInt(i, j) shouldBe (i.toInt() + 1) * 2
        }
    }
})

private fun dev.strata.tensor.Tensor.reshapeRow(): dev.strata.tensor.Tensor = buffer.view(dtype, byteOffset / dtype.byteSize, longArrayOf(size(1)), longArrayOf(stride(1)))
private fun dev.strata.tensor.Tensor.reshapeFlat(): dev.strata.tensor.Tensor = buffer.view(dtype, byteOffset / dtype.byteSize, longArrayOf(size(0) * size(1)), longArrayOf(1))

/**
 * A `TaskCallable` whose class exists only in memory, as a notebook cell's or a REPL line's does: built with
 * the JDK's class-file API and defined by a loader of its own, with no code source.
 */
private fun inMemoryCallable(): dev.strata.task.TaskCallable {
    val cf = java.lang.classfile.ClassFile.of()
    val void = java.lang.constant.ConstantDescs.CD_void
    val bytes = cf.build(java.lang.constant.ClassDesc.of("dev.strata.gen.MemoryKernel")) { cb ->
        cb.withFlags(java.lang.classfile.ClassFile.ACC_PUBLIC or java.lang.classfile.ClassFile.ACC_FINAL)
        cb.withInterfaceSymbols(java.lang.constant.ClassDesc.of(dev.strata.task.TaskCallable::class.java.name))
        cb.withMethodBody("<init>", java.lang.constant.MethodTypeDesc.of(void), java.lang.classfile.ClassFile.ACC_PUBLIC) { code ->
            code.aload(0)
            code.invokespecial(java.lang.constant.ConstantDescs.CD_Object, "<init>", java.lang.constant.MethodTypeDesc.of(void))
            code.return_()
        }
        val callType = java.lang.constant.MethodTypeDesc.of(void, java.lang.constant.ClassDesc.of(dev.strata.task.TaskContext::class.java.name))
        cb.withMethodBody("call", callType, java.lang.classfile.ClassFile.ACC_PUBLIC) { code -> code.return_() }
    }
    val loader = object : ClassLoader(dev.strata.task.TaskCallable::class.java.classLoader) {
        fun define(): Class<*> = defineClass("dev.strata.gen.MemoryKernel", bytes, 0, bytes.size)
    }
    return loader.define().getDeclaredConstructor().newInstance() as dev.strata.task.TaskCallable
}
