package dev.strata.nativebind.acl;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Map;

/**
 * The ACL runtime with errors as exceptions: each method calls one {@link acl_rt_h} function and turns a
 * non-zero {@code aclError} into an {@link AclException} carrying the code, its name and the runtime's
 * {@code aclGetRecentErrMsg()} text (read at once: the runtime keeps it per thread until the next call).
 * Device pointers and handles are raw addresses ({@code long}) or segments of size 0, as the runtime
 * gives them; device memory is reached only through copies.
 *
 * <p>Follows the runtime's threading rules: {@link #init()} once per process (a repeat, 100002, is not an
 * error), {@link #setDevice(int)} on every thread before device calls.
 */
public final class Acl {

    private Acl() {}

    public static final int ACL_SUCCESS = 0;
    public static final int ACL_ERROR_INVALID_PARAM = 100000;
    public static final int ACL_ERROR_UNINITIALIZE = 100001;
    public static final int ACL_ERROR_REPEAT_INITIALIZE = 100002;
    public static final int ACL_ERROR_REPEAT_FINALIZE = 100037;
    public static final int ACL_ERROR_RT_PARAM_INVALID = 107000;
    public static final int ACL_ERROR_RT_INVALID_DEVICEID = 107001;
    public static final int ACL_ERROR_RT_CONTEXT_NULL = 107002;
    public static final int ACL_ERROR_RT_STREAM_CONTEXT = 107003;
    public static final int ACL_ERROR_RT_INVALID_HANDLE = 107017;
    public static final int ACL_ERROR_RT_WAIT_TIMEOUT = 107019;
    public static final int ACL_ERROR_RT_TASK_TIMEOUT = 107020;
    public static final int ACL_ERROR_RT_DEVICE_TASK_ABORT = 107022;
    public static final int ACL_ERROR_RT_FEATURE_NOT_SUPPORT = 207000;
    public static final int ACL_ERROR_RT_MEMORY_ALLOCATION = 207001;
    public static final int ACL_ERROR_RT_NO_DEVICE = 207004;
    public static final int ACL_ERROR_INTERNAL_ERROR = 500000;
    public static final int ACL_ERROR_RT_INTERNAL_ERROR = 507000;
    public static final int ACL_ERROR_RT_STREAM_NOT_COMPLETE = 507004;
    public static final int ACL_ERROR_RT_AICORE_TIMEOUT = 507014;
    public static final int ACL_ERROR_RT_AICORE_EXCEPTION = 507015;
    public static final int ACL_ERROR_RT_AICPU_TIMEOUT = 507017;
    public static final int ACL_ERROR_RT_AICPU_EXCEPTION = 507018;
    public static final int ACL_ERROR_RT_DEV_SETUP_ERROR = 507033;
    public static final int ACL_ERROR_RT_STREAM_SYNC_TIMEOUT = 507046;
    public static final int ACL_ERROR_RT_EVENT_SYNC_TIMEOUT = 507047;
    public static final int ACL_ERROR_RT_DRV_INTERNAL_ERROR = 507899;
    public static final int ACL_ERROR_RT_SOCKET_CLOSE = 507901;

    private record Code(String name, String meaning) {}

    private static final Map<Integer, Code> CODES = Map.ofEntries(
            Map.entry(0, new Code("ACL_SUCCESS", "success")),
            Map.entry(100000, new Code("ACL_ERROR_INVALID_PARAM", "a parameter check failed")),
            Map.entry(100001, new Code("ACL_ERROR_UNINITIALIZE", "aclInit was not called first")),
            Map.entry(100002, new Code("ACL_ERROR_REPEAT_INITIALIZE", "aclInit was already called")),
            Map.entry(100037, new Code("ACL_ERROR_REPEAT_FINALIZE", "aclFinalize was already called")),
            Map.entry(107000, new Code("ACL_ERROR_RT_PARAM_INVALID", "a runtime parameter is invalid")),
            Map.entry(107001, new Code("ACL_ERROR_RT_INVALID_DEVICEID", "no such device id")),
            Map.entry(107002, new Code("ACL_ERROR_RT_CONTEXT_NULL", "no context: this thread did not call aclrtSetDevice or aclrtSetCurrentContext")),
            Map.entry(107003, new Code("ACL_ERROR_RT_STREAM_CONTEXT", "the stream is not in the current context")),
            Map.entry(107017, new Code("ACL_ERROR_RT_INVALID_HANDLE", "invalid resource handle")),
            Map.entry(107019, new Code("ACL_ERROR_RT_WAIT_TIMEOUT", "wait timeout")),
            Map.entry(107020, new Code("ACL_ERROR_RT_TASK_TIMEOUT", "task timeout")),
            Map.entry(107022, new Code("ACL_ERROR_RT_DEVICE_TASK_ABORT", "device task abort (often after another fault)")),
            Map.entry(207000, new Code("ACL_ERROR_RT_FEATURE_NOT_SUPPORT", "feature not supported")),
            Map.entry(207001, new Code("ACL_ERROR_RT_MEMORY_ALLOCATION", "out of device memory")),
            Map.entry(207004, new Code("ACL_ERROR_RT_NO_DEVICE", "no device")),
            Map.entry(500000, new Code("ACL_ERROR_INTERNAL_ERROR", "internal error")),
            Map.entry(507000, new Code("ACL_ERROR_RT_INTERNAL_ERROR", "runtime internal error")),
            Map.entry(507004, new Code("ACL_ERROR_RT_STREAM_NOT_COMPLETE", "the stream's tasks have not all completed")),
            Map.entry(507014, new Code("ACL_ERROR_RT_AICORE_TIMEOUT", "AI Core timeout")),
            Map.entry(507015, new Code("ACL_ERROR_RT_AICORE_EXCEPTION", "AI Core exception: a kernel failed")),
            Map.entry(507017, new Code("ACL_ERROR_RT_AICPU_TIMEOUT", "AI CPU timeout")),
            Map.entry(507018, new Code("ACL_ERROR_RT_AICPU_EXCEPTION", "AI CPU exception")),
            Map.entry(507033, new Code("ACL_ERROR_RT_DEV_SETUP_ERROR", "the device cannot be set up")),
            Map.entry(507046, new Code("ACL_ERROR_RT_STREAM_SYNC_TIMEOUT", "the stream did not finish within the timeout")),
            Map.entry(507047, new Code("ACL_ERROR_RT_EVENT_SYNC_TIMEOUT", "the event did not complete within the timeout")),
            Map.entry(507899, new Code("ACL_ERROR_RT_DRV_INTERNAL_ERROR", "driver internal error")),
            Map.entry(507901, new Code("ACL_ERROR_RT_SOCKET_CLOSE", "HDC session disconnected")));

    /** The name of {@code code}, e.g. {@code ACL_ERROR_RT_STREAM_SYNC_TIMEOUT}; {@code ACL_ERROR_<code>} when unknown. */
    public static String errorName(int code) {
        Code c = CODES.get(code);
        return c != null ? c.name() : "ACL_ERROR_" + code;
    }

    /** What {@code code} means, in a few words. */
    public static String errorMeaning(int code) {
        Code c = CODES.get(code);
        return c != null ? c.meaning() : "unknown code";
    }

    /** Throws {@link AclException} for a non-zero {@code rc}, with the runtime's recent message. */
    public static void check(int rc, String operation) {
        if (rc != ACL_SUCCESS) throw new AclException(operation, rc, recentMessage());
    }

    /** {@code aclGetRecentErrMsg()}: the calling thread's last message (and clears it), or null. */
    public static String recentMessage() {
        MemorySegment p = acl_rt_h.aclGetRecentErrMsg();
        return p.equals(MemorySegment.NULL) ? null : p.reinterpret(Long.MAX_VALUE).getString(0);
    }

    /** {@code aclInit(NULL)}; a repeat (100002) is success, as the runtime's docs allow. */
    public static void init() {
        int rc = acl_rt_h.aclInit(MemorySegment.NULL);
        if (rc == ACL_ERROR_REPEAT_INITIALIZE) {
            recentMessage(); // consume it: it is not an error
            return;
        }
        check(rc, "aclInit");
    }

    /** {@code aclFinalize()}. */
    public static void finalizeAcl() {
        check(acl_rt_h.aclFinalize(), "aclFinalize");
    }

    /** {@code "major.minor.patch"} from {@code aclrtGetVersion}. */
    public static String version() {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment v = a.allocate(ValueLayout.JAVA_INT, 3);
            check(acl_rt_h.aclrtGetVersion(v, v.asSlice(4), v.asSlice(8)), "aclrtGetVersion");
            return v.getAtIndex(ValueLayout.JAVA_INT, 0) + "." + v.getAtIndex(ValueLayout.JAVA_INT, 1) + "." + v.getAtIndex(ValueLayout.JAVA_INT, 2);
        }
    }

    /** {@code aclrtGetSocName()}, or null. */
    public static String socName() {
        MemorySegment p = acl_rt_h.aclrtGetSocName();
        return p.equals(MemorySegment.NULL) ? null : p.reinterpret(Long.MAX_VALUE).getString(0);
    }

    /** {@code aclrtGetDeviceCount}. */
    public static int deviceCount() {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment n = a.allocate(ValueLayout.JAVA_INT);
            check(acl_rt_h.aclrtGetDeviceCount(n), "aclrtGetDeviceCount");
            return n.get(ValueLayout.JAVA_INT, 0);
        }
    }

    /** {@code aclrtSetDevice}: binds the calling thread to {@code deviceId}. */
    public static void setDevice(int deviceId) {
        check(acl_rt_h.aclrtSetDevice(deviceId), "aclrtSetDevice(" + deviceId + ")");
    }

    /** {@code aclrtGetDevice}: the calling thread's device. */
    public static int currentDevice() {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment d = a.allocate(ValueLayout.JAVA_INT);
            check(acl_rt_h.aclrtGetDevice(d), "aclrtGetDevice");
            return d.get(ValueLayout.JAVA_INT, 0);
        }
    }

    /** {@code aclrtResetDevice}. */
    public static void resetDevice(int deviceId) {
        check(acl_rt_h.aclrtResetDevice(deviceId), "aclrtResetDevice(" + deviceId + ")");
    }

    /** {@code aclrtMalloc(size, HUGE_FIRST)}: the device pointer. */
    public static long malloc(long size) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment p = a.allocate(ValueLayout.ADDRESS);
            check(acl_rt_h.aclrtMalloc(p, size, acl_rt_h.ACL_MEM_MALLOC_HUGE_FIRST), "aclrtMalloc(" + size + " B)");
            return p.get(ValueLayout.ADDRESS, 0).address();
        }
    }

    /** {@code aclrtFree}. */
    public static void free(long devPtr) {
        check(acl_rt_h.aclrtFree(MemorySegment.ofAddress(devPtr)), "aclrtFree(0x" + Long.toHexString(devPtr) + ")");
    }

    /** {@code aclrtGetMemInfo(HBM)}: {free, total} bytes of the current device. */
    public static long[] memInfo() {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment f = a.allocate(ValueLayout.JAVA_LONG, 2);
            check(acl_rt_h.aclrtGetMemInfo(acl_rt_h.ACL_HBM_MEM, f, f.asSlice(8)), "aclrtGetMemInfo");
            return new long[] {f.getAtIndex(ValueLayout.JAVA_LONG, 0), f.getAtIndex(ValueLayout.JAVA_LONG, 1)};
        }
    }

    /** Copies {@code host} (native memory) to device memory at {@code devPtr}. */
    public static void copyToDevice(long devPtr, MemorySegment host) {
        check(acl_rt_h.aclrtMemcpy(MemorySegment.ofAddress(devPtr), host.byteSize(), host, host.byteSize(), acl_rt_h.ACL_MEMCPY_HOST_TO_DEVICE),
                "aclrtMemcpy(host to device, " + host.byteSize() + " B)");
    }

    /** Copies device memory at {@code devPtr} into {@code host} (native memory), {@code host.byteSize()} bytes. */
    public static void copyFromDevice(MemorySegment host, long devPtr) {
        check(acl_rt_h.aclrtMemcpy(host, host.byteSize(), MemorySegment.ofAddress(devPtr), host.byteSize(), acl_rt_h.ACL_MEMCPY_DEVICE_TO_HOST),
                "aclrtMemcpy(device to host, " + host.byteSize() + " B)");
    }

    /** {@code aclrtCreateStream} on the calling thread's device. */
    public static MemorySegment createStream() {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment p = a.allocate(ValueLayout.ADDRESS);
            check(acl_rt_h.aclrtCreateStream(p), "aclrtCreateStream");
            return p.get(ValueLayout.ADDRESS, 0);
        }
    }

    /** {@code aclrtDestroyStream}. */
    public static void destroyStream(MemorySegment stream) {
        check(acl_rt_h.aclrtDestroyStream(stream), "aclrtDestroyStream");
    }

    /**
     * {@code aclrtSynchronizeStreamWithTimeout}: waits up to {@code timeoutMillis} (-1 forever). An
     * asynchronous failure of a launch surfaces here, naming the kernel in the runtime's message.
     */
    public static void synchronize(MemorySegment stream, int timeoutMillis) {
        check(acl_rt_h.aclrtSynchronizeStreamWithTimeout(stream, timeoutMillis), "aclrtSynchronizeStreamWithTimeout(" + timeoutMillis + " ms)");
    }

    /** {@code aclrtBinaryLoadFromFile(path, NULL)}: {@code path} must be absolute. */
    public static MemorySegment loadBinary(String path) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment p = a.allocate(ValueLayout.ADDRESS);
            check(acl_rt_h.aclrtBinaryLoadFromFile(a.allocateFrom(path), MemorySegment.NULL, p), "aclrtBinaryLoadFromFile(" + path + ")");
            return p.get(ValueLayout.ADDRESS, 0);
        }
    }

    /** {@code aclrtBinaryGetFunction}. */
    public static MemorySegment function(MemorySegment binary, String kernelName) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment p = a.allocate(ValueLayout.ADDRESS);
            check(acl_rt_h.aclrtBinaryGetFunction(binary, a.allocateFrom(kernelName), p), "aclrtBinaryGetFunction(" + kernelName + ")");
            return p.get(ValueLayout.ADDRESS, 0);
        }
    }

    /** {@code aclrtBinaryUnLoad}. */
    public static void unloadBinary(MemorySegment binary) {
        check(acl_rt_h.aclrtBinaryUnLoad(binary), "aclrtBinaryUnLoad");
    }

    /** {@code aclrtLaunchKernel}: {@code argsDevPtr} is device memory holding {@code argsSize} bytes of packed arguments. */
    public static void launch(MemorySegment function, int numBlocks, long argsDevPtr, long argsSize, MemorySegment stream, String kernelName) {
        check(acl_rt_h.aclrtLaunchKernel(function, numBlocks, MemorySegment.ofAddress(argsDevPtr), argsSize, stream),
                "aclrtLaunchKernel(" + kernelName + ", " + numBlocks + " blocks)");
    }
}
