package dev.strata.nativebind.posix;

import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;

/**
 * Bindings for the subset of {@code <sys/mman.h>} in {@code native-bindings/headers/sys_mman.h}, in the
 * shape jextract generates. Linux constants (x86_64 and aarch64 share them).
 *
 * <p>Thread-safe. Callers need {@code --enable-native-access}.
 */
@SuppressWarnings("unused")
public final class sys_mman_h {

    private sys_mman_h() {}

    public static final ValueLayout.OfInt C_INT = ValueLayout.JAVA_INT;
    public static final ValueLayout.OfLong C_LONG = ValueLayout.JAVA_LONG;
    public static final ValueLayout C_POINTER = ValueLayout.ADDRESS;

    /** {@snippet lang=c : #define PROT_READ 0x1 } */
    public static final int PROT_READ = 0x1;
    /** {@snippet lang=c : #define PROT_WRITE 0x2 } */
    public static final int PROT_WRITE = 0x2;
    /** {@snippet lang=c : #define MAP_SHARED 0x01 } */
    public static final int MAP_SHARED = 0x01;
    /** {@snippet lang=c : #define MAP_PRIVATE 0x02 } */
    public static final int MAP_PRIVATE = 0x02;
    /** {@snippet lang=c : #define MAP_ANONYMOUS 0x20 } */
    public static final int MAP_ANONYMOUS = 0x20;
    /** {@snippet lang=c : #define MAP_NORESERVE 0x4000 } */
    public static final int MAP_NORESERVE = 0x4000;

    /** The value {@code mmap} returns on failure. */
    public static final long MAP_FAILED = -1L;

    private static final class mmap {
        static final FunctionDescriptor DESC =
                FunctionDescriptor.of(C_POINTER, C_POINTER, C_LONG, C_INT, C_INT, C_INT, C_LONG);
        static final MethodHandle HANDLE = unistd_h.LINKER.downcallHandle(unistd_h.findOrThrow("mmap"), DESC);
    }

    /**
     * {@snippet lang=c :
     * void *mmap(void *addr, size_t length, int prot, int flags, int fd, off_t offset)
     * }
     * Returns a zero-length segment at the mapped address (reinterpret it to the mapped size), or one whose
     * address is {@link #MAP_FAILED}.
     */
    public static MemorySegment mmap(MemorySegment addr, long length, int prot, int flags, int fd, long offset) {
        try {
            return (MemorySegment) mmap.HANDLE.invokeExact(addr, length, prot, flags, fd, offset);
        } catch (Throwable t) {
            throw new AssertionError("should not reach here", t);
        }
    }

    private static final class munmap {
        static final FunctionDescriptor DESC = FunctionDescriptor.of(C_INT, C_POINTER, C_LONG);
        static final MethodHandle HANDLE = unistd_h.LINKER.downcallHandle(unistd_h.findOrThrow("munmap"), DESC);
    }

    /**
     * {@snippet lang=c :
     * int munmap(void *addr, size_t length)
     * }
     */
    public static int munmap(MemorySegment addr, long length) {
        try {
            return (int) munmap.HANDLE.invokeExact(addr, length);
        } catch (Throwable t) {
            throw new AssertionError("should not reach here", t);
        }
    }
}
