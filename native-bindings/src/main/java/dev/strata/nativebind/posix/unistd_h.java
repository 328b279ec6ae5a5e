package dev.strata.nativebind.posix;

import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;

/**
 * Bindings for the subset of {@code <unistd.h>} in {@code native-bindings/headers/unistd.h}, written by
 * hand in the shape jextract generates: one static wrapper per C function, method handles created lazily
 * in per-function holder classes, descriptors spelled out.
 *
 * <p>Thread-safe; every call goes straight to libc. Callers need {@code --enable-native-access}.
 */
@SuppressWarnings("unused")
public final class unistd_h {

    private unistd_h() {}

    /** {@code pid_t} is {@code int} on every Linux ABI Strata supports. */
    public static final ValueLayout.OfInt C_INT = ValueLayout.JAVA_INT;

    static final Linker LINKER = Linker.nativeLinker();
    static final SymbolLookup SYMBOL_LOOKUP = LINKER.defaultLookup();

    static MemorySegment findOrThrow(String symbol) {
        return SYMBOL_LOOKUP.find(symbol)
                .orElseThrow(() -> new UnsatisfiedLinkError("unresolved symbol in libc: " + symbol));
    }

    private static final class getpid {
        static final FunctionDescriptor DESC = FunctionDescriptor.of(C_INT);
        static final MethodHandle HANDLE = LINKER.downcallHandle(findOrThrow("getpid"), DESC);
    }

    /**
     * {@snippet lang=c :
     * pid_t getpid(void)
     * }
     */
    public static int getpid() {
        try {
            return (int) getpid.HANDLE.invokeExact();
        } catch (Throwable t) {
            throw new AssertionError("should not reach here", t);
        }
    }

    private static final class getppid {
        static final FunctionDescriptor DESC = FunctionDescriptor.of(C_INT);
        static final MethodHandle HANDLE = LINKER.downcallHandle(findOrThrow("getppid"), DESC);
    }

    /**
     * {@snippet lang=c :
     * pid_t getppid(void)
     * }
     */
    public static int getppid() {
        try {
            return (int) getppid.HANDLE.invokeExact();
        } catch (Throwable t) {
            throw new AssertionError("should not reach here", t);
        }
    }
}
