package dev.strata.nativebind.posix;

import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.StructLayout;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;

/**
 * {@code futex(2)} through {@code syscall(SYS_futex, ...)} (libc has no wrapper), written in the shape
 * jextract generates for {@code syscall} specialised to the futex argument list, plus the constants of
 * {@code native-bindings/headers/linux_futex.h}. Operations are <em>shared</em> (no
 * {@code FUTEX_PRIVATE_FLAG}): they work across processes on a word in shared memory.
 *
 * <p>Thread-safe; callers need {@code --enable-native-access}.
 */
public final class linux_futex_h {

    private linux_futex_h() {}

    /** {@snippet lang=c : #define FUTEX_WAIT 0 } */
    public static final int FUTEX_WAIT = 0;
    /** {@snippet lang=c : #define FUTEX_WAKE 1 } */
    public static final int FUTEX_WAKE = 1;

    /** {@code SYS_futex} of this machine's architecture. */
    public static final long SYS_futex = switch (System.getProperty("os.arch")) {
        case "amd64", "x86_64" -> 202L;
        case "aarch64", "arm64" -> 98L;
        default -> -1L;
    };

    /**
     * {@snippet lang=c :
     * struct timespec { long tv_sec; long tv_nsec; };
     * }
     */
    public static final StructLayout timespec = MemoryLayout.structLayout(
            ValueLayout.JAVA_LONG.withName("tv_sec"), ValueLayout.JAVA_LONG.withName("tv_nsec"));

    private static final class futex {
        static final FunctionDescriptor DESC = FunctionDescriptor.of(
                ValueLayout.JAVA_LONG, ValueLayout.JAVA_LONG, ValueLayout.ADDRESS, ValueLayout.JAVA_INT,
                ValueLayout.JAVA_INT, ValueLayout.ADDRESS, ValueLayout.ADDRESS, ValueLayout.JAVA_INT);
        static final MethodHandle HANDLE = unistd_h.LINKER.downcallHandle(
                unistd_h.findOrThrow("syscall"), DESC, Linker.Option.firstVariadicArg(1), errno_h.CAPTURE_ERRNO);
    }

    /**
     * {@snippet lang=c :
     * long syscall(SYS_futex, int *uaddr, int futex_op, int val, const struct timespec *timeout, int *uaddr2, int val3)
     * }
     * Returns -1 with {@code errno} in [errnoCapture] on failure ({@code EAGAIN}: the word did not hold
     * [val]; {@code ETIMEDOUT}; {@code EINTR}). For {@link #FUTEX_WAKE} it returns the number woken.
     *
     * @throws UnsupportedOperationException on an architecture whose {@code SYS_futex} is unknown
     */
    public static long futex(MemorySegment errnoCapture, MemorySegment uaddr, int op, int val,
                             MemorySegment timeout, MemorySegment uaddr2, int val3) {
        if (SYS_futex < 0) {
            throw new UnsupportedOperationException("futex: unknown SYS_futex for os.arch=" + System.getProperty("os.arch"));
        }
        try {
            return (long) futex.HANDLE.invokeExact(errnoCapture, SYS_futex, uaddr, op, val, timeout, uaddr2, val3);
        } catch (Throwable t) {
            throw new AssertionError("should not reach here", t);
        }
    }
}
