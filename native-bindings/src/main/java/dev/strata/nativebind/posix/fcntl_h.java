package dev.strata.nativebind.posix;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;

/**
 * Bindings for the subset of {@code <fcntl.h>} in {@code native-bindings/headers/fcntl.h}, written by hand
 * in the shape jextract generates: one static wrapper per C function, method handles created lazily in
 * per-function holder classes, descriptors spelled out. {@code open} is variadic; this binding passes no
 * mode (it never creates files).
 *
 * <p>Thread-safe; every call goes straight to libc. Callers need {@code --enable-native-access}.
 */
@SuppressWarnings("unused")
public final class fcntl_h {

    private fcntl_h() {}

    public static final ValueLayout.OfInt C_INT = ValueLayout.JAVA_INT;
    /** {@code off_t} is 64-bit on every Linux ABI Strata supports. */
    public static final ValueLayout.OfLong C_LONG = ValueLayout.JAVA_LONG;
    public static final ValueLayout C_POINTER = ValueLayout.ADDRESS;

    /** {@snippet lang=c : #define O_RDWR 02 } */
    public static final int O_RDWR = 02;
    /** {@snippet lang=c : #define O_CLOEXEC 02000000 } */
    public static final int O_CLOEXEC = 02000000;
    /** {@code ENOSPC} from {@code <errno.h>}: no space left on the device. */
    public static final int ENOSPC = 28;

    private static final class open {
        static final FunctionDescriptor DESC = FunctionDescriptor.of(C_INT, C_POINTER, C_INT);
        static final MethodHandle HANDLE = Linker.nativeLinker().downcallHandle(
                unistd_h.findOrThrow("open"), DESC, errno_h.CAPTURE_ERRNO, Linker.Option.firstVariadicArg(2));
    }

    /**
     * {@snippet lang=c :
     * int open(const char *pathname, int flags, ...)
     * }
     * Returns the file descriptor, or -1 with errno in {@code errnoState} (see {@link errno_h}).
     */
    public static int open(MemorySegment errnoState, MemorySegment pathname, int flags) {
        try {
            return (int) open.HANDLE.invokeExact(errnoState, pathname, flags);
        } catch (Throwable t) {
            throw new AssertionError("should not reach here", t);
        }
    }

    private static final class close {
        static final FunctionDescriptor DESC = FunctionDescriptor.of(C_INT, C_INT);
        static final MethodHandle HANDLE = Linker.nativeLinker().downcallHandle(unistd_h.findOrThrow("close"), DESC);
    }

    /**
     * {@snippet lang=c :
     * int close(int fd)
     * }
     */
    public static int close(int fd) {
        try {
            return (int) close.HANDLE.invokeExact(fd);
        } catch (Throwable t) {
            throw new AssertionError("should not reach here", t);
        }
    }

    private static final class posix_fallocate {
        static final FunctionDescriptor DESC = FunctionDescriptor.of(C_INT, C_INT, C_LONG, C_LONG);
        static final MethodHandle HANDLE = Linker.nativeLinker().downcallHandle(unistd_h.findOrThrow("posix_fallocate"), DESC);
    }

    /**
     * {@snippet lang=c :
     * int posix_fallocate(int fd, off_t offset, off_t len)
     * }
     * Returns 0, or an error number ({@link #ENOSPC} when the file system is full); errno is not used.
     */
    public static int posix_fallocate(int fd, long offset, long len) {
        try {
            return (int) posix_fallocate.HANDLE.invokeExact(fd, offset, len);
        } catch (Throwable t) {
            throw new AssertionError("should not reach here", t);
        }
    }

    /**
     * Reserves {@code len} bytes of the file at {@code path} (opened read-write, then closed): on tmpfs the
     * pages are allocated now, so a later write cannot fault for lack of memory. Returns 0 or an error
     * number ({@link #ENOSPC}: no room); -1 - errno if the file could not be opened.
     */
    public static int reserve(String path, long len) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment errno = errno_h.allocateCapture(arena);
            int fd = open(errno, arena.allocateFrom(path), O_RDWR | O_CLOEXEC);
            if (fd < 0) return -1 - errno_h.errno(errno);
            try {
                return posix_fallocate(fd, 0, len);
            } finally {
                close(fd);
            }
        }
    }
}
