package dev.strata.nativebind.posix;

import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;

/**
 * Bindings for the subset of {@code <sys/prctl.h>} in {@code native-bindings/headers/sys_prctl.h}, in the
 * shape jextract generates for a variadic function specialised to one argument list
 * ({@code prctl(int option, unsigned long arg2)}). Thread-safe; callers need {@code --enable-native-access}.
 */
public final class sys_prctl_h {

    private sys_prctl_h() {}

    /** {@snippet lang=c : #define PR_SET_PDEATHSIG 1 } */
    public static final int PR_SET_PDEATHSIG = 1;
    /** {@snippet lang=c : #define PR_GET_PDEATHSIG 2 } */
    public static final int PR_GET_PDEATHSIG = 2;

    private static final class prctl {
        static final FunctionDescriptor DESC =
                FunctionDescriptor.of(errno_h.C_INT, errno_h.C_INT, ValueLayout.JAVA_LONG);
        static final MethodHandle HANDLE = unistd_h.LINKER.downcallHandle(
                unistd_h.findOrThrow("prctl"), DESC, Linker.Option.firstVariadicArg(1), errno_h.CAPTURE_ERRNO);
    }

    /**
     * {@snippet lang=c :
     * int prctl(int option, ...)   // called as prctl(option, (unsigned long) arg2)
     * }
     * For {@link #PR_GET_PDEATHSIG}, [arg2] is the address of an {@code int} that receives the signal.
     */
    public static int prctl(MemorySegment errnoCapture, int option, long arg2) {
        try {
            return (int) prctl.HANDLE.invokeExact(errnoCapture, option, arg2);
        } catch (Throwable t) {
            throw new AssertionError("should not reach here", t);
        }
    }
}
