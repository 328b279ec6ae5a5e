package dev.strata.java;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import dev.strata.record.TaskGraph;
import dev.strata.shm.SharedMemoryFile;
import dev.strata.error.BackPressureTimeoutException;
import dev.strata.task.Gate;
import dev.strata.error.GraphBindingException;
import dev.strata.error.InvalidCallableException;
import dev.strata.error.InvalidSubmitException;
import dev.strata.error.TaskFailedException;
import dev.strata.error.WorkerClosedException;
import dev.strata.task.ScalarParameter;
import dev.strata.task.TaskCallable;
import dev.strata.task.TaskContext;
import dev.strata.tensor.DType;
import dev.strata.tensor.Tensor;
import dev.strata.worker.Isolation;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * The Java facade used the way a Java programmer would: builders, try-with-resources, lambdas on
 * threads, named classes in child JVMs, {@link CompletableFuture}s. Every test leaves no child process
 * and no shared-memory file behind, even when it fails.
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class JavaFacadeTest {

    // --- callables: public static nested classes and an enum, so child JVMs can load them by name -----

    /** Tensor 0 (I64) = 1, 2, 3, … after a pause, so a consumer that did not wait for it reads zeros. */
    public static final class FillOneUp implements TaskCallable {
        @Override
        public void call(TaskContext ctx) {
            pause(50);
            Tensor a = ctx.tensor(0);
            for (long i = 0; i < a.size(0); i++) a.setLong(i, i + 1);
        }
    }

    /** Tensor 1 (I64) = tensor 0 squared, element by element. */
    public enum Square implements TaskCallable {
        INSTANCE;

        @Override
        public void call(TaskContext ctx) {
            Tensor a = ctx.tensor(0);
            Tensor b = ctx.tensor(1);
            for (long i = 0; i < a.size(0); i++) b.setLong(i, a.getLong(i) * a.getLong(i));
        }
    }

    /** Tensor 1 (F32) = tensor 0 times the double scalar 0. */
    public static final class Scale implements TaskCallable {
        @Override
        public void call(TaskContext ctx) {
            float factor = (float) Double.longBitsToDouble(ctx.scalar(0));
            Tensor x = ctx.tensor(0);
            Tensor y = ctx.tensor(1);
            for (long i = 0; i < x.size(0); i++) y.setFloat(i, factor * x.getFloat(i));
        }
    }

    /** Tensor 0 (F32) += 1. */
    public static final class PlusOne implements TaskCallable {
        @Override
        public void call(TaskContext ctx) {
            Tensor y = ctx.tensor(0);
            for (long i = 0; i < y.size(0); i++) y.setFloat(i, y.getFloat(i) + 1);
        }
    }

    /** A kernel: tensor 1 (I32) = 2 × tensor 0; records the core it ran on. */
    public static final class DoubleInts implements TaskCallable {
        static final Set<String> CORES = ConcurrentHashMap.newKeySet();

        @Override
        public void call(TaskContext ctx) {
            CORES.add(ctx.getWorkerPath());
            Tensor a = ctx.tensor(0);
            Tensor b = ctx.tensor(1);
            for (long i = 0; i < a.getElementCount(); i++) b.setInt(i, 2 * a.getInt(i));
        }
    }

    /** A chip callable written as a level-2 program: each of the chip's cores doubles its half. */
    public static final class TwoCoreDouble implements TaskCallable {
        @Override
        public void call(TaskContext ctx) {
            Tensor in = ctx.tensor(0);
            Tensor out = ctx.tensor(1);
            long half = in.size(0) / 2;
            Strata.run(ctx.getWorker(), p -> {
                for (int c = 0; c < 2; c++) {
                    long lo = c * half;
                    long hi = lo + half;
                    p.submit(p.core(c), "half " + c, Args.of().input(in.slice(0, lo, hi)).output(out.slice(0, lo, hi)), new DoubleInts());
                }
            });
        }
    }

    private static void pause(long millis) {
        try {
            Thread.sleep(millis);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted", e);
        }
    }

    private static void await(CountDownLatch latch) {
        try {
            if (!latch.await(30, TimeUnit.SECONDS)) throw new IllegalStateException("latch not opened within 30 s");
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted", e);
        }
    }

    // --- leftovers ----------------------------------------------------------------------------------

    private static List<ProcessHandle> liveChildren() {
        return ProcessHandle.current().children().filter(ProcessHandle::isAlive).toList();
    }

    private static List<Path> ownSharedMemoryFiles() throws IOException {
        String prefix = SharedMemoryFile.PREFIX + ProcessHandle.current().pid() + "-";
        try (Stream<Path> files = Files.list(SharedMemoryFile.Companion.getDIRECTORY())) {
            // Not the owner lock: the JVM holds it for its whole life (SegmentSweeper's proof of ownership).
            return files.filter(f -> f.getFileName().toString().startsWith(prefix))
                    .filter(f -> !f.getFileName().toString().startsWith(prefix + "owner-"))
                    .toList();
        }
    }

    /** Fails if a child process or a shared-memory file of this JVM is left, after removing them. */
    @AfterEach
    void nothingLeftBehind() throws IOException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
        while (!liveChildren().isEmpty() && System.nanoTime() < deadline) pause(10);
        List<ProcessHandle> children = liveChildren();
        List<Path> files = ownSharedMemoryFiles();
        children.forEach(ProcessHandle::destroyForcibly);
        for (Path f : files) Files.deleteIfExists(f);
        if (!children.isEmpty() || !files.isEmpty()) {
            fail("the test left child processes " + children.stream().map(ProcessHandle::pid).toList() + " and shared-memory files " + files);
        }
    }

    // --- tests --------------------------------------------------------------------------------------

    @Test
    void aTwoTaskChainOnThreadSubWorkersProducesTheRightData() {
        try (JavaWorker w = Strata.worker(3).subWorkers(2).start()) {
            assertEquals(3, w.getLevel());
            assertEquals(2, w.getSubWorkerCount());
            Tensor a = w.hostTensor(DType.I64, 8);
            Tensor b = w.hostTensor("b", DType.I64, 8);
            w.run(p -> {
                p.submit(p.sub(), "fill", Args.of().output(a), new FillOneUp());
                // A lambda is fine on threads; it must wait for "fill" (it reads what "fill" writes).
                p.submit(p.sub(), "square", Args.of().input(a).output(b), ctx -> {
                    for (long i = 0; i < 8; i++) ctx.tensor(1).setLong(i, ctx.tensor(0).getLong(i) * ctx.tensor(0).getLong(i));
                });
            });
            for (long i = 0; i < 8; i++) assertEquals((i + 1) * (i + 1), b.getLong(i), "b[" + i + "]");
        }
    }

    @Test
    void traceWritesATimelineWhenTheWorkerCloses() throws Exception {
        java.nio.file.Path file = java.nio.file.Files.createTempFile("strata-java", ".json");
        try {
            try (JavaWorker w = Strata.worker(3).subWorkers(1).trace(file).start()) {
                w.run(p -> p.submit(p.sub(), "traced", Args.of(), ctx -> { }));
            }
            dev.strata.trace.TraceFile trace = dev.strata.trace.TraceFile.Companion.read(file);
            assertEquals(java.util.List.of(), trace.problems());
            assertEquals(1L, trace.getTraceEvents().stream().filter(e -> e.getPh().equals("X") && e.getName().equals("traced")).count());
        } finally {
            java.nio.file.Files.deleteIfExists(file);
        }
    }

    @Test
    void scopesWithAllocAGroupTaskAndAGateOpenedByTheHost() throws Exception {
        try (JavaWorker w = Strata.worker(3).subWorkers(3).start()) {
            Tensor parts = w.hostTensor(DType.I64, 3);
            Tensor flag = w.hostTensor(DType.I64, 1);
            AtomicReference<Long> seenByGated = new AtomicReference<>();
            Thread opener = null;
            try {
                AtomicReference<Gate> gate = new AtomicReference<>();
                CompletableFuture<Void> f = w.submit(p -> {
                    p.scope(s -> {
                        Tensor tmp = s.alloc(DType.I64, 3); // scratch memory of this scope
                        s.submit(s.sub(), "fill tmp", Args.of().output(tmp), new FillOneUp());
                        // Member m gets the arguments built for m (its scalar says so, or the result is off by 1000).
                        s.submitGroup(s.sub(), 3, "times ten", m -> Args.of().input(tmp.slice(0, m, m + 1, 1)).output(parts.slice(0, m, m + 1, 1)).scalar(m),
                                ctx -> ctx.tensor(1).setLong(0, 10 * ctx.tensor(0).getLong(0) + (ctx.scalar(0) == ctx.getMemberIndex() ? 0 : 1000)));
                    });
                    Gate g = p.gate("host flag");
                    gate.set(g);
                    p.after(g, q -> q.submit(q.sub(), "gated", ctx -> seenByGated.set(flag.getLong(0))));
                });
                assertFalse(f.isDone(), "the run waits for its gate");
                flag.setLong(0, 99);
                opener = new Thread(() -> gate.get().open(), "gate opener");
                opener.start();
                f.get(30, TimeUnit.SECONDS);
            } finally {
                if (opener != null) opener.join(10_000);
            }
            assertEquals(List.of(10L, 20L, 30L), List.of(parts.getLong(0), parts.getLong(1), parts.getLong(2)));
            assertEquals(99L, seenByGated.get(), "the gated task ran only after the host opened the gate");
        }
    }

    @Test
    void theSameChainOnProcessSubWorkersRunsNamedCallablesInChildJvms() {
        try (JavaWorker w = Strata.worker(3)
                .subIsolation(Isolation.PROCESS)
                .subWorkers(2)
                .callables(new FillOneUp())
                .closeTimeout(Duration.ofSeconds(5))
                .start()) {
            assertEquals(2, w.worker().getChildPids().size());
            Map<String, Duration> rtts = w.ping(Duration.ofSeconds(5));
            assertEquals(2, rtts.size(), rtts.toString());
            for (Duration rtt : rtts.values()) assertTrue(rtt != null && !rtt.isNegative(), rtts.toString());
            Tensor a = w.hostTensor(DType.I64, 8);
            Tensor b = w.hostTensor(DType.I64, 8);
            w.run(p -> {
                p.submit(p.sub(), "fill", Args.of().output(a), new FillOneUp());
                p.submit(p.sub(), "square", Args.of().input(a).output(b), Square.INSTANCE);
            });
            for (long i = 0; i < 8; i++) assertEquals((i + 1) * (i + 1), b.getLong(i), "b[" + i + "]");

            // A lambda cannot be found by name in a child JVM: rejected before anything runs, saying why.
            InvalidCallableException e = assertThrows(InvalidCallableException.class,
                    () -> w.run(p -> p.submit(p.sub(), "inline", Args.of().inout(a), ctx -> { })));
            assertTrue(e.getMessage().contains("lambda"), e.getMessage());
            w.run(p -> p.submit(p.sub(), "square again", Args.of().input(b).output(a), Square.INSTANCE)); // still usable
            assertEquals(4L * 4L, a.getLong(1)); // b[1] = 2², squared again
        }
    }

    @Test
    void aLevel4WorkerListsRemoteNodesAsNextLevelChildren() {
        // A remote node as strata-cluster makes it (here behind an in-memory link): same submit, tensors there and back.
        dev.strata.remote.LoopbackLink link = new dev.strata.remote.LoopbackLink(3, null, "loopback:java", 4096);
        try (JavaWorker w = Strata.worker(4).subWorkers(1).nextLevel(new dev.strata.worker.NextLevelChild.Remote(link)).start()) {
            Tensor a = w.hostTensor(DType.I64, 4);
            Tensor b = w.hostTensor(DType.I64, 4);
            for (long i = 0; i < 4; i++) a.setLong(i, i + 1);
            w.run(p -> p.submit(p.node(0), "square", Args.of().input(a).output(b), Square.INSTANCE));
            for (long i = 0; i < 4; i++) assertEquals((i + 1) * (i + 1), b.getLong(i));
        }
        assertTrue(link.getClosed());
    }

    @Test
    void submitReturnsAFutureThatFailsWithTheTaskErrorNamingTheTask() throws Exception {
        try (JavaWorker w = Strata.worker(3).subWorkers(2).start()) {
            Tensor x = w.hostTensor(DType.I64, 1);
            AtomicBoolean dependentRan = new AtomicBoolean();
            // "explode" fails only once the program has returned: had it failed while the program was still
            // submitting, the next submit would have thrown the error at once (fail-fast), not the future.
            CountDownLatch built = new CountDownLatch(1);
            CompletableFuture<Void> f = w.submit(p -> {
                p.submit(p.sub(), "explode", Args.of().output(x), ctx -> {
                    await(built);
                    throw new IllegalStateException("boom on purpose");
                });
                p.submit(p.sub(), "after", Args.of().input(x), ctx -> dependentRan.set(true));
            });
            built.countDown();
            CompletionException ce = assertThrows(CompletionException.class, f::join);
            TaskFailedException e = assertInstanceOf(TaskFailedException.class, ce.getCause());
            assertEquals("explode", e.getTaskName());
            assertEquals(IllegalStateException.class.getName(), e.getErrorClass());
            assertTrue(e.getMessage().contains("'explode'"), e.getMessage());
            assertTrue(e.getMessage().contains("boom on purpose"), e.getMessage());
            assertTrue(f.isCompletedExceptionally());
            assertFalse(dependentRan.get(), "a task depending on the failed one was skipped");

            // What the program itself throws (here an invalid submit) is thrown by submit, naming the task.
            InvalidSubmitException invalid = assertThrows(InvalidSubmitException.class,
                    () -> w.submit(p -> p.submit(p.sub(), "writes twice", Args.of().output(x).output(x), ctx -> { })));
            assertTrue(invalid.getMessage().contains("'writes twice'"), invalid.getMessage());

            // run() throws the same error directly; the next run is unaffected.
            TaskFailedException direct = assertThrows(TaskFailedException.class,
                    () -> w.run(p -> p.submit(p.sub(), "explode again", ctx -> {
                        throw new IllegalArgumentException("again");
                    })));
            assertEquals("explode again", direct.getTaskName());
            CompletableFuture<Void> ok = w.submit(p -> p.submit(p.sub(), "fine", Args.of().output(x), ctx -> ctx.tensor(0).setLong(0, 42)));
            ok.get(30, TimeUnit.SECONDS);
            assertFalse(ok.isCompletedExceptionally());
            assertEquals(42L, x.getLong(0));
        }
    }

    @Test
    void stagesChainedOnARunFutureMayStartTheNextRun() throws Exception {
        // Were the future completed on the worker's scheduler thread, this stage would wait for itself.
        try (JavaWorker w = Strata.worker(3).subWorkers(1).start()) {
            Tensor x = w.hostTensor(DType.I64, 1);
            CountDownLatch slow = new CountDownLatch(1);
            CompletableFuture<Void> first = w.submit(p -> p.submit(p.sub(), "first", Args.of().output(x), ctx -> {
                await(slow);
                ctx.tensor(0).setLong(0, 1);
            }));
            AtomicReference<String> stageThread = new AtomicReference<>();
            CompletableFuture<Void> second = first.thenRun(() -> {
                stageThread.set(Thread.currentThread().getName());
                w.run(p -> p.submit(p.sub(), "second", Args.of().inout(x), ctx -> ctx.tensor(0).setLong(0, ctx.tensor(0).getLong(0) + 1)));
            });
            slow.countDown();
            second.get(30, TimeUnit.SECONDS);
            assertEquals(2L, x.getLong(0));
            assertFalse(stageThread.get().startsWith("strata-L3"), "the stage ran on the worker's thread " + stageThread.get());
        }
    }

    @Test
    void cancellingTheFutureCancelsTheRun() throws Exception {
        try (JavaWorker w = Strata.worker(3).subWorkers(1).start()) {
            Tensor x = w.hostTensor(DType.I64, 1);
            CountDownLatch held = new CountDownLatch(1);
            AtomicBoolean laterRan = new AtomicBoolean();
            CompletableFuture<Void> f = w.submit(p -> {
                p.submit(p.sub(), "held", Args.of().output(x), ctx -> await(held));
                p.submit(p.sub(), "later", Args.of().inout(x), ctx -> laterRan.set(true));
            });
            assertTrue(f.cancel(true));
            assertTrue(f.isCancelled());
            held.countDown();
            w.run(p -> p.submit(p.sub(), "next run", Args.of().output(x), ctx -> ctx.tensor(0).setLong(0, 7)));
            assertFalse(laterRan.get(), "the task not yet dispatched was skipped");
            assertEquals(7L, x.getLong(0));
        }
    }

    @Test
    void tryWithResourcesClosesTheWorkerAndItsChildProcesses() {
        JavaWorker outside;
        Map<String, Long> pids;
        try (JavaWorker w = Strata.worker(3).subWorkers(2, Isolation.PROCESS).closeTimeout(Duration.ofSeconds(5)).start()) {
            outside = w;
            pids = w.worker().getChildPids();
            assertEquals(2, pids.size());
            assertFalse(w.isClosed());
        }
        assertTrue(outside.isClosed());
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        for (long pid : pids.values()) {
            while (ProcessHandle.of(pid).map(ProcessHandle::isAlive).orElse(false) && System.nanoTime() < deadline) pause(10);
            assertFalse(ProcessHandle.of(pid).map(ProcessHandle::isAlive).orElse(false), "child " + pid + " still alive");
        }
        WorkerClosedException e = assertThrows(WorkerClosedException.class, () -> outside.run(p -> { }));
        assertEquals("L3", e.getWorkerPath());
    }

    @Test
    void aGraphRecordedInJavaIsReplayedWithNewBindings() {
        TaskGraph graph = Strata.taskGraph("scale", g -> {
            Tensor x = g.parameter("x", DType.F32, 64);
            Tensor y = g.parameter("y", DType.F32, 64);
            for (long h = 0; h < 2; h++) {
                g.submit(g.sub(), "half " + h, Args.of().input(x.slice(0, 32 * h, 32 * h + 32)).output(y.slice(0, 32 * h, 32 * h + 32)).scalar(3.0), new Scale());
            }
            g.submit(g.sub(), "plus one", Args.of().inout(y), new PlusOne()); // follows both halves
        });
        assertEquals(3, graph.getSize());
        assertEquals(2, graph.getEdgeCount());
        assertEquals(List.of("x", "y"), graph.getParameterNames());

        try (JavaWorker w = Strata.worker(3).subWorkers(2).start()) {
            Tensor a = w.hostTensor(DType.F32, 64);
            Tensor b = w.hostTensor(DType.F32, 64);
            Tensor c = w.hostTensor(DType.F32, 64);
            for (long i = 0; i < 64; i++) a.setFloat(i, i);
            w.run(graph, Map.of("x", a, "y", b));
            w.submit(graph, Map.of("x", b, "y", c)).join();
            for (long i = 0; i < 64; i++) {
                assertEquals(3f * i + 1, b.getFloat(i), "b[" + i + "]");
                assertEquals(3f * (3f * i + 1) + 1, c.getFloat(i), "c[" + i + "]");
            }
            GraphBindingException e = assertThrows(GraphBindingException.class, () -> w.submit(graph, Map.of("x", a)));
            assertTrue(e.getMessage().contains("'y'"), e.getMessage());
        }
    }

    @Test
    void aGraphRecordedInJavaBindsScalarsAndAllocatesScratchAtEachReplay() {
        TaskGraph graph = Strata.taskGraph("scaled", g -> {
            Tensor x = g.parameter("x", DType.F32, 64);
            Tensor y = g.parameter("y", DType.F32, 64);
            ScalarParameter factor = g.scalarParameter("factor");
            Tensor scratch = g.alloc(DType.F32, 64);
            g.submit(g.sub(), "scale", Args.of().input(x).output(scratch).scalar(factor), new Scale());
            g.submit(g.sub(), "copy", Args.of().input(scratch).output(y).scalar(1.0), new Scale());
        });
        assertEquals(List.of("factor"), graph.getScalarParameterNames());
        assertEquals(1, graph.getScratchCount());
        try (JavaWorker w = Strata.worker(3).subWorkers(2).start()) {
            Tensor a = w.hostTensor(DType.F32, 64);
            Tensor b = w.hostTensor(DType.F32, 64);
            for (long i = 0; i < 64; i++) a.setFloat(i, i);
            for (double f : new double[] {2.0, -0.5}) {
                w.run(graph, Map.of("x", a, "y", b), Map.of("factor", Double.doubleToRawLongBits(f)));
                for (long i = 0; i < 64; i++) assertEquals((float) (f * i), b.getFloat(i), "b[" + i + "] with factor " + f);
            }
        }
    }

    @Test
    void aSmallTaskWindowBlocksSubmitUntilASlotIsReleased() throws Exception {
        int window = 4;
        try (JavaWorker w = Strata.worker(3).subWorkers(window).taskWindow(window).backPressureTimeout(Duration.ofSeconds(30)).start()) {
            CountDownLatch gate = new CountDownLatch(1);
            AtomicBoolean releasing = new AtomicBoolean();
            AtomicReference<Boolean> returnedAfterRelease = new AtomicReference<>();
            AtomicInteger ran = new AtomicInteger();
            Thread opener = new Thread(() -> {
                pause(300); // a window in which a submit that did not block would return early
                releasing.set(true);
                gate.countDown();
            }, "opener");
            try {
                w.run(p -> {
                    // Each held task sits in its own ended scope, so only its running state holds its slot.
                    for (int i = 0; i < window; i++) {
                        String name = "held " + i;
                        p.scope(s -> s.submit(s.sub(), name, ctx -> {
                            await(gate);
                            ran.incrementAndGet();
                        }));
                    }
                    opener.start();
                    p.submit(p.sub(), "extra", ctx -> ran.incrementAndGet());
                    returnedAfterRelease.set(releasing.get());
                });
            } finally {
                gate.countDown();
                opener.join(10_000);
            }
            assertEquals(Boolean.TRUE, returnedAfterRelease.get(), "the submit past the window returned before a slot was free");
            assertEquals(window + 1, ran.get());

            // A long stream through the small window flows: each finished task gives its slot back.
            Tensor sum = w.hostTensor(DType.I64, 1);
            w.run(p -> {
                for (int i = 0; i < 500; i++) {
                    p.scope(s -> s.submit(s.sub(), "add", Args.of().inout(sum), ctx -> ctx.tensor(0).setLong(0, ctx.tensor(0).getLong(0) + 1)));
                }
            });
            assertEquals(500L, sum.getLong(0));
        }
    }

    @Test
    void aWindowThatNeverFreesFailsTheSubmitNamingTheSetting() {
        try (JavaWorker w = Strata.worker(3).subWorkers(2).taskWindow(2).backPressureTimeout(Duration.ofMillis(300)).start()) {
            CountDownLatch gate = new CountDownLatch(1);
            AtomicReference<BackPressureTimeoutException> error = new AtomicReference<>();
            try {
                w.run(p -> {
                    for (int i = 0; i < 2; i++) p.submit(p.sub(), "held " + i, ctx -> await(gate)); // outer scope: slots stay held
                    error.set(assertThrows(BackPressureTimeoutException.class, () -> p.submit(p.sub(), "one too many", ctx -> { })));
                    gate.countDown();
                });
            } finally {
                gate.countDown();
            }
            assertEquals("taskWindow", error.get().getSetting());
            assertTrue(error.get().getMessage().contains("task ring"), error.get().getMessage());
        }
    }

    @Test
    void aProgramIsUsableOnlyOnItsThreadAndWhileItRuns() throws Exception {
        try (JavaWorker w = Strata.worker(3).subWorkers(1).start()) {
            AtomicReference<JavaProgram> kept = new AtomicReference<>();
            AtomicReference<Throwable> fromOtherThread = new AtomicReference<>();
            w.run(p -> {
                kept.set(p);
                Thread t = new Thread(() -> {
                    try {
                        p.submit(p.sub(), "elsewhere", ctx -> { });
                    } catch (Throwable e) {
                        fromOtherThread.set(e);
                    }
                }, "not-the-program");
                t.start();
                try {
                    t.join();
                } catch (InterruptedException e) {
                    throw new IllegalStateException(e);
                }
            });
            assertInstanceOf(IllegalStateException.class, fromOtherThread.get());
            assertTrue(fromOtherThread.get().getMessage().contains("'not-the-program'"), fromOtherThread.get().getMessage());
            IllegalStateException late = assertThrows(IllegalStateException.class, () -> kept.get().submit(kept.get().sub(), "late", ctx -> { }));
            assertTrue(late.getMessage().contains("after its program returned"), late.getMessage());
        }
    }

    @Test
    void chipsFromJavaDeviceMemoryAKernelAndALevel2Program() {
        DoubleInts.CORES.clear();
        try (JavaWorker w = Strata.worker(3)
                .chips(0, 2, chip -> chip.cores("aiv", 2).syncTimeout(Duration.ofSeconds(30)))
                .chipIsolation(Isolation.THREAD)
                .domain("pair", List.of(0, 1), 4096, d -> d.buffer("x", DType.I64, 16))
                .closeTimeout(Duration.ofSeconds(5))
                .start()) {
            assertEquals(2, w.getChipCount());
            assertEquals(16, w.chipContext(1).domain("pair").buffer("x").getElementCount());

            Tensor host = w.hostTensor(DType.I32, 64);
            for (long i = 0; i < 64; i++) host.setInt(i, (int) i);
            Tensor a = w.deviceTensor(1, DType.I32, 64);
            Tensor b = w.deviceTensor(1, DType.I32, 64);
            Tensor c = w.deviceTensor(1, DType.I32, 64);
            w.copyToDevice(a, host);
            w.run(p -> {
                p.submit(p.chip(1), "double", Args.of().input(a).output(b), Strata.kernel(new DoubleInts()));
                p.submit(p.chip(1), "double on two cores", Args.of().input(b).output(c), new TwoCoreDouble());
            });
            Tensor back = w.hostTensor(DType.I32, 64);
            w.copyFromDevice(back, c);
            for (long i = 0; i < 64; i++) assertEquals(4 * (int) i, back.getInt(i), "c[" + i + "]");
            assertEquals(Set.of("L2 core#0", "L2 core#1"), DoubleInts.CORES, "the level-2 program used both cores");
            w.freeDevice(a);
        }
    }
}
