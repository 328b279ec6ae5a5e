package dev.strata.nativebind.posix;

import java.lang.foreign.Arena;
import java.lang.foreign.Linker;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.StructLayout;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.VarHandle;

/**
 * {@code errno} values used by Strata and the call-state capture that reads them: a binding that can fail
 * takes a capture segment from {@link #allocateCapture} as its first argument and {@link #errno} reads
 * what the call left there (errno itself is thread-local in libc and unreliable once the JVM runs again).
 */
public final class errno_h {

    private errno_h() {}

    /** {@snippet lang=c : #define EPERM 1 } */
    public static final int EPERM = 1;
    /** {@snippet lang=c : #define ESRCH 3 } */
    public static final int ESRCH = 3;
    /** {@snippet lang=c : #define EINTR 4 } */
    public static final int EINTR = 4;
    /** {@snippet lang=c : #define EAGAIN 11 } */
    public static final int EAGAIN = 11;
    /** {@snippet lang=c : #define EINVAL 22 } */
    public static final int EINVAL = 22;
    /** {@snippet lang=c : #define ETIMEDOUT 110 } */
    public static final int ETIMEDOUT = 110;

    static final Linker.Option CAPTURE_ERRNO = Linker.Option.captureCallState("errno");
    private static final StructLayout CAPTURE_LAYOUT = Linker.Option.captureStateLayout();
    private static final VarHandle ERRNO =
            CAPTURE_LAYOUT.varHandle(MemoryLayout.PathElement.groupElement("errno"));

    /** A segment to pass as the capture argument of bindings that record {@code errno}. */
    public static MemorySegment allocateCapture(Arena arena) {
        return arena.allocate(CAPTURE_LAYOUT);
    }

    /** The {@code errno} a call recorded in [capture]. */
    public static int errno(MemorySegment capture) {
        return (int) ERRNO.get(capture, 0L);
    }

    static final ValueLayout.OfInt C_INT = ValueLayout.JAVA_INT;
}
