package dev.strata.nativebind.posix;

import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.MemorySegment;
import java.lang.invoke.MethodHandle;

/**
 * Bindings for the subset of {@code <signal.h>} in {@code native-bindings/headers/signal.h}, in the shape
 * jextract generates. Thread-safe; callers need {@code --enable-native-access}.
 */
public final class signal_h {

    private signal_h() {}

    /** {@snippet lang=c : #define SIGKILL 9 } */
    public static final int SIGKILL = 9;
    /** {@snippet lang=c : #define SIGTERM 15 } */
    public static final int SIGTERM = 15;
    /** {@snippet lang=c : #define SIGCONT 18 } */
    public static final int SIGCONT = 18;
    /** {@snippet lang=c : #define SIGSTOP 19 } */
    public static final int SIGSTOP = 19;

    private static final class kill {
        static final FunctionDescriptor DESC = FunctionDescriptor.of(errno_h.C_INT, errno_h.C_INT, errno_h.C_INT);
        static final MethodHandle HANDLE =
                unistd_h.LINKER.downcallHandle(unistd_h.findOrThrow("kill"), DESC, errno_h.CAPTURE_ERRNO);
    }

    /**
     * {@snippet lang=c :
     * int kill(pid_t pid, int sig)
     * }
     * [errnoCapture] (from {@link errno_h#allocateCapture}) receives {@code errno} when it returns -1.
     */
    public static int kill(MemorySegment errnoCapture, int pid, int sig) {
        try {
            return (int) kill.HANDLE.invokeExact(errnoCapture, pid, sig);
        } catch (Throwable t) {
            throw new AssertionError("should not reach here", t);
        }
    }
}
