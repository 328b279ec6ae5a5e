package dev.strata.nativebind.acl;

import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;

/**
 * Bindings for the subset of CANN's {@code <acl/acl_rt.h>} and {@code <acl/acl_base_rt.h>} in
 * {@code native-bindings/headers/acl/acl_rt.h} (CANN 8.5, same ABI at 9.x), written by hand in the shape
 * jextract generates: one static wrapper per C function returning the raw {@code aclError}, method
 * handles created lazily in per-function holder classes (the library loads with the first of them, see
 * {@link AclLibrary}), descriptors spelled out. {@link Acl} turns the codes into {@link AclException}s.
 *
 * <p>Threading is the runtime's: a thread must bind a device ({@code aclrtSetDevice}) before any
 * device call. Callers need {@code --enable-native-access}.
 */
@SuppressWarnings("unused")
public final class acl_rt_h {

    private acl_rt_h() {}

    public static final ValueLayout.OfInt C_INT = ValueLayout.JAVA_INT;
    /** {@code size_t} and {@code uint64_t} on LP64 Linux. */
    public static final ValueLayout.OfLong C_LONG = ValueLayout.JAVA_LONG;
    /** Every handle ({@code aclrtStream}, {@code aclrtBinHandle}, …) and pointer. */
    public static final ValueLayout C_POINTER = ValueLayout.ADDRESS;

    // aclrtMemcpyKind
    public static final int ACL_MEMCPY_HOST_TO_HOST = 0;
    public static final int ACL_MEMCPY_HOST_TO_DEVICE = 1;
    public static final int ACL_MEMCPY_DEVICE_TO_HOST = 2;
    public static final int ACL_MEMCPY_DEVICE_TO_DEVICE = 3;
    public static final int ACL_MEMCPY_DEFAULT = 4;
    // aclrtMemMallocPolicy
    public static final int ACL_MEM_MALLOC_HUGE_FIRST = 0;
    public static final int ACL_MEM_MALLOC_HUGE_ONLY = 1;
    public static final int ACL_MEM_MALLOC_NORMAL_ONLY = 2;
    // aclrtMemAttr
    public static final int ACL_DDR_MEM = 0;
    public static final int ACL_HBM_MEM = 1;

    private static MethodHandle handle(String name, FunctionDescriptor desc) {
        return Linker.nativeLinker().downcallHandle(AclLibrary.findOrThrow(name), desc);
    }

    private static final class aclInit {
        static final FunctionDescriptor DESC = FunctionDescriptor.of(C_INT, C_POINTER);
        static final MethodHandle HANDLE = handle("aclInit", DESC);
    }

    /**
     * {@snippet lang=c :
     * aclError aclInit(const char *configPath)
     * }
     */
    public static int aclInit(MemorySegment configPath) {
        try {
            return (int) aclInit.HANDLE.invokeExact(configPath);
        } catch (Throwable t) {
            throw new AssertionError("should not reach here", t);
        }
    }

    private static final class aclFinalize {
        static final FunctionDescriptor DESC = FunctionDescriptor.of(C_INT);
        static final MethodHandle HANDLE = handle("aclFinalize", DESC);
    }

    /**
     * {@snippet lang=c :
     * aclError aclFinalize()
     * }
     */
    public static int aclFinalize() {
        try {
            return (int) aclFinalize.HANDLE.invokeExact();
        } catch (Throwable t) {
            throw new AssertionError("should not reach here", t);
        }
    }

    private static final class aclGetRecentErrMsg {
        static final FunctionDescriptor DESC = FunctionDescriptor.of(C_POINTER);
        static final MethodHandle HANDLE = handle("aclGetRecentErrMsg", DESC);
    }

    /**
     * {@snippet lang=c :
     * const char *aclGetRecentErrMsg()
     * }
     */
    public static MemorySegment aclGetRecentErrMsg() {
        try {
            return (MemorySegment) aclGetRecentErrMsg.HANDLE.invokeExact();
        } catch (Throwable t) {
            throw new AssertionError("should not reach here", t);
        }
    }

    private static final class aclrtGetVersion {
        static final FunctionDescriptor DESC = FunctionDescriptor.of(C_INT, C_POINTER, C_POINTER, C_POINTER);
        static final MethodHandle HANDLE = handle("aclrtGetVersion", DESC);
    }

    /**
     * {@snippet lang=c :
     * aclError aclrtGetVersion(int32_t *majorVersion, int32_t *minorVersion, int32_t *patchVersion)
     * }
     */
    public static int aclrtGetVersion(MemorySegment majorVersion, MemorySegment minorVersion, MemorySegment patchVersion) {
        try {
            return (int) aclrtGetVersion.HANDLE.invokeExact(majorVersion, minorVersion, patchVersion);
        } catch (Throwable t) {
            throw new AssertionError("should not reach here", t);
        }
    }

    private static final class aclrtGetSocName {
        static final FunctionDescriptor DESC = FunctionDescriptor.of(C_POINTER);
        static final MethodHandle HANDLE = handle("aclrtGetSocName", DESC);
    }

    /**
     * {@snippet lang=c :
     * const char *aclrtGetSocName()
     * }
     */
    public static MemorySegment aclrtGetSocName() {
        try {
            return (MemorySegment) aclrtGetSocName.HANDLE.invokeExact();
        } catch (Throwable t) {
            throw new AssertionError("should not reach here", t);
        }
    }

    private static final class aclrtGetDeviceCount {
        static final FunctionDescriptor DESC = FunctionDescriptor.of(C_INT, C_POINTER);
        static final MethodHandle HANDLE = handle("aclrtGetDeviceCount", DESC);
    }

    /**
     * {@snippet lang=c :
     * aclError aclrtGetDeviceCount(uint32_t *count)
     * }
     */
    public static int aclrtGetDeviceCount(MemorySegment count) {
        try {
            return (int) aclrtGetDeviceCount.HANDLE.invokeExact(count);
        } catch (Throwable t) {
            throw new AssertionError("should not reach here", t);
        }
    }

    private static final class aclrtSetDevice {
        static final FunctionDescriptor DESC = FunctionDescriptor.of(C_INT, C_INT);
        static final MethodHandle HANDLE = handle("aclrtSetDevice", DESC);
    }

    /**
     * {@snippet lang=c :
     * aclError aclrtSetDevice(int32_t deviceId)
     * }
     */
    public static int aclrtSetDevice(int deviceId) {
        try {
            return (int) aclrtSetDevice.HANDLE.invokeExact(deviceId);
        } catch (Throwable t) {
            throw new AssertionError("should not reach here", t);
        }
    }

    private static final class aclrtGetDevice {
        static final FunctionDescriptor DESC = FunctionDescriptor.of(C_INT, C_POINTER);
        static final MethodHandle HANDLE = handle("aclrtGetDevice", DESC);
    }

    /**
     * {@snippet lang=c :
     * aclError aclrtGetDevice(int32_t *deviceId)
     * }
     */
    public static int aclrtGetDevice(MemorySegment deviceId) {
        try {
            return (int) aclrtGetDevice.HANDLE.invokeExact(deviceId);
        } catch (Throwable t) {
            throw new AssertionError("should not reach here", t);
        }
    }

    private static final class aclrtResetDevice {
        static final FunctionDescriptor DESC = FunctionDescriptor.of(C_INT, C_INT);
        static final MethodHandle HANDLE = handle("aclrtResetDevice", DESC);
    }

    /**
     * {@snippet lang=c :
     * aclError aclrtResetDevice(int32_t deviceId)
     * }
     */
    public static int aclrtResetDevice(int deviceId) {
        try {
            return (int) aclrtResetDevice.HANDLE.invokeExact(deviceId);
        } catch (Throwable t) {
            throw new AssertionError("should not reach here", t);
        }
    }

    private static final class aclrtResetDeviceForce {
        static final FunctionDescriptor DESC = FunctionDescriptor.of(C_INT, C_INT);
        static final MethodHandle HANDLE = handle("aclrtResetDeviceForce", DESC);
    }

    /**
     * {@snippet lang=c :
     * aclError aclrtResetDeviceForce(int32_t deviceId)
     * }
     */
    public static int aclrtResetDeviceForce(int deviceId) {
        try {
            return (int) aclrtResetDeviceForce.HANDLE.invokeExact(deviceId);
        } catch (Throwable t) {
            throw new AssertionError("should not reach here", t);
        }
    }

    private static final class aclrtMalloc {
        static final FunctionDescriptor DESC = FunctionDescriptor.of(C_INT, C_POINTER, C_LONG, C_INT);
        static final MethodHandle HANDLE = handle("aclrtMalloc", DESC);
    }

    /**
     * {@snippet lang=c :
     * aclError aclrtMalloc(void **devPtr, size_t size, aclrtMemMallocPolicy policy)
     * }
     */
    public static int aclrtMalloc(MemorySegment devPtr, long size, int policy) {
        try {
            return (int) aclrtMalloc.HANDLE.invokeExact(devPtr, size, policy);
        } catch (Throwable t) {
            throw new AssertionError("should not reach here", t);
        }
    }

    private static final class aclrtFree {
        static final FunctionDescriptor DESC = FunctionDescriptor.of(C_INT, C_POINTER);
        static final MethodHandle HANDLE = handle("aclrtFree", DESC);
    }

    /**
     * {@snippet lang=c :
     * aclError aclrtFree(void *devPtr)
     * }
     */
    public static int aclrtFree(MemorySegment devPtr) {
        try {
            return (int) aclrtFree.HANDLE.invokeExact(devPtr);
        } catch (Throwable t) {
            throw new AssertionError("should not reach here", t);
        }
    }

    private static final class aclrtGetMemInfo {
        static final FunctionDescriptor DESC = FunctionDescriptor.of(C_INT, C_INT, C_POINTER, C_POINTER);
        static final MethodHandle HANDLE = handle("aclrtGetMemInfo", DESC);
    }

    /**
     * {@snippet lang=c :
     * aclError aclrtGetMemInfo(aclrtMemAttr attr, size_t *free, size_t *total)
     * }
     */
    public static int aclrtGetMemInfo(int attr, MemorySegment free, MemorySegment total) {
        try {
            return (int) aclrtGetMemInfo.HANDLE.invokeExact(attr, free, total);
        } catch (Throwable t) {
            throw new AssertionError("should not reach here", t);
        }
    }

    private static final class aclrtMemcpy {
        static final FunctionDescriptor DESC = FunctionDescriptor.of(C_INT, C_POINTER, C_LONG, C_POINTER, C_LONG, C_INT);
        static final MethodHandle HANDLE = handle("aclrtMemcpy", DESC);
    }

    /**
     * {@snippet lang=c :
     * aclError aclrtMemcpy(void *dst, size_t destMax, const void *src, size_t count, aclrtMemcpyKind kind)
     * }
     */
    public static int aclrtMemcpy(MemorySegment dst, long destMax, MemorySegment src, long count, int kind) {
        try {
            return (int) aclrtMemcpy.HANDLE.invokeExact(dst, destMax, src, count, kind);
        } catch (Throwable t) {
            throw new AssertionError("should not reach here", t);
        }
    }

    private static final class aclrtMemcpyAsync {
        static final FunctionDescriptor DESC = FunctionDescriptor.of(C_INT, C_POINTER, C_LONG, C_POINTER, C_LONG, C_INT, C_POINTER);
        static final MethodHandle HANDLE = handle("aclrtMemcpyAsync", DESC);
    }

    /**
     * {@snippet lang=c :
     * aclError aclrtMemcpyAsync(void *dst, size_t destMax, const void *src, size_t count, aclrtMemcpyKind kind, aclrtStream stream)
     * }
     */
    public static int aclrtMemcpyAsync(MemorySegment dst, long destMax, MemorySegment src, long count, int kind, MemorySegment stream) {
        try {
            return (int) aclrtMemcpyAsync.HANDLE.invokeExact(dst, destMax, src, count, kind, stream);
        } catch (Throwable t) {
            throw new AssertionError("should not reach here", t);
        }
    }

    private static final class aclrtMemset {
        static final FunctionDescriptor DESC = FunctionDescriptor.of(C_INT, C_POINTER, C_LONG, C_INT, C_LONG);
        static final MethodHandle HANDLE = handle("aclrtMemset", DESC);
    }

    /**
     * {@snippet lang=c :
     * aclError aclrtMemset(void *devPtr, size_t maxCount, int32_t value, size_t count)
     * }
     */
    public static int aclrtMemset(MemorySegment devPtr, long maxCount, int value, long count) {
        try {
            return (int) aclrtMemset.HANDLE.invokeExact(devPtr, maxCount, value, count);
        } catch (Throwable t) {
            throw new AssertionError("should not reach here", t);
        }
    }

    private static final class aclrtCreateStream {
        static final FunctionDescriptor DESC = FunctionDescriptor.of(C_INT, C_POINTER);
        static final MethodHandle HANDLE = handle("aclrtCreateStream", DESC);
    }

    /**
     * {@snippet lang=c :
     * aclError aclrtCreateStream(aclrtStream *stream)
     * }
     */
    public static int aclrtCreateStream(MemorySegment stream) {
        try {
            return (int) aclrtCreateStream.HANDLE.invokeExact(stream);
        } catch (Throwable t) {
            throw new AssertionError("should not reach here", t);
        }
    }

    private static final class aclrtDestroyStream {
        static final FunctionDescriptor DESC = FunctionDescriptor.of(C_INT, C_POINTER);
        static final MethodHandle HANDLE = handle("aclrtDestroyStream", DESC);
    }

    /**
     * {@snippet lang=c :
     * aclError aclrtDestroyStream(aclrtStream stream)
     * }
     */
    public static int aclrtDestroyStream(MemorySegment stream) {
        try {
            return (int) aclrtDestroyStream.HANDLE.invokeExact(stream);
        } catch (Throwable t) {
            throw new AssertionError("should not reach here", t);
        }
    }

    private static final class aclrtSynchronizeStream {
        static final FunctionDescriptor DESC = FunctionDescriptor.of(C_INT, C_POINTER);
        static final MethodHandle HANDLE = handle("aclrtSynchronizeStream", DESC);
    }

    /**
     * {@snippet lang=c :
     * aclError aclrtSynchronizeStream(aclrtStream stream)
     * }
     */
    public static int aclrtSynchronizeStream(MemorySegment stream) {
        try {
            return (int) aclrtSynchronizeStream.HANDLE.invokeExact(stream);
        } catch (Throwable t) {
            throw new AssertionError("should not reach here", t);
        }
    }

    private static final class aclrtSynchronizeStreamWithTimeout {
        static final FunctionDescriptor DESC = FunctionDescriptor.of(C_INT, C_POINTER, C_INT);
        static final MethodHandle HANDLE = handle("aclrtSynchronizeStreamWithTimeout", DESC);
    }

    /**
     * {@snippet lang=c :
     * aclError aclrtSynchronizeStreamWithTimeout(aclrtStream stream, int32_t timeout)
     * }
     */
    public static int aclrtSynchronizeStreamWithTimeout(MemorySegment stream, int timeout) {
        try {
            return (int) aclrtSynchronizeStreamWithTimeout.HANDLE.invokeExact(stream, timeout);
        } catch (Throwable t) {
            throw new AssertionError("should not reach here", t);
        }
    }

    private static final class aclrtBinaryLoadFromFile {
        static final FunctionDescriptor DESC = FunctionDescriptor.of(C_INT, C_POINTER, C_POINTER, C_POINTER);
        static final MethodHandle HANDLE = handle("aclrtBinaryLoadFromFile", DESC);
    }

    /**
     * {@snippet lang=c :
     * aclError aclrtBinaryLoadFromFile(const char* binPath, aclrtBinaryLoadOptions *options, aclrtBinHandle *binHandle)
     * }
     */
    public static int aclrtBinaryLoadFromFile(MemorySegment binPath, MemorySegment options, MemorySegment binHandle) {
        try {
            return (int) aclrtBinaryLoadFromFile.HANDLE.invokeExact(binPath, options, binHandle);
        } catch (Throwable t) {
            throw new AssertionError("should not reach here", t);
        }
    }

    private static final class aclrtBinaryGetFunction {
        static final FunctionDescriptor DESC = FunctionDescriptor.of(C_INT, C_POINTER, C_POINTER, C_POINTER);
        static final MethodHandle HANDLE = handle("aclrtBinaryGetFunction", DESC);
    }

    /**
     * {@snippet lang=c :
     * aclError aclrtBinaryGetFunction(const aclrtBinHandle binHandle, const char *kernelName, aclrtFuncHandle *funcHandle)
     * }
     */
    public static int aclrtBinaryGetFunction(MemorySegment binHandle, MemorySegment kernelName, MemorySegment funcHandle) {
        try {
            return (int) aclrtBinaryGetFunction.HANDLE.invokeExact(binHandle, kernelName, funcHandle);
        } catch (Throwable t) {
            throw new AssertionError("should not reach here", t);
        }
    }

    private static final class aclrtBinaryUnLoad {
        static final FunctionDescriptor DESC = FunctionDescriptor.of(C_INT, C_POINTER);
        static final MethodHandle HANDLE = handle("aclrtBinaryUnLoad", DESC);
    }

    /**
     * {@snippet lang=c :
     * aclError aclrtBinaryUnLoad(aclrtBinHandle binHandle)
     * }
     */
    public static int aclrtBinaryUnLoad(MemorySegment binHandle) {
        try {
            return (int) aclrtBinaryUnLoad.HANDLE.invokeExact(binHandle);
        } catch (Throwable t) {
            throw new AssertionError("should not reach here", t);
        }
    }

    private static final class aclrtLaunchKernel {
        static final FunctionDescriptor DESC = FunctionDescriptor.of(C_INT, C_POINTER, C_INT, C_POINTER, C_LONG, C_POINTER);
        static final MethodHandle HANDLE = handle("aclrtLaunchKernel", DESC);
    }

    /**
     * {@snippet lang=c :
     * aclError aclrtLaunchKernel(aclrtFuncHandle funcHandle, uint32_t numBlocks, const void *argsData, size_t argsSize, aclrtStream stream)
     * }
     */
    public static int aclrtLaunchKernel(MemorySegment funcHandle, int numBlocks, MemorySegment argsData, long argsSize, MemorySegment stream) {
        try {
            return (int) aclrtLaunchKernel.HANDLE.invokeExact(funcHandle, numBlocks, argsData, argsSize, stream);
        } catch (Throwable t) {
            throw new AssertionError("should not reach here", t);
        }
    }
}
