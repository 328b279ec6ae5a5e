package dev.strata.nativebind.hccl;

import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;

/**
 * Bindings for the HCCL subset in {@code native-bindings/headers/hccl/hccl.h}, written by hand in the shape
 * jextract generates: one static wrapper per C function returning the raw {@code HcclResult}, method
 * handles created lazily in per-function holder classes, descriptors spelled out. Communicator lifecycle
 * symbols are looked up in {@code libhcomm.so} first (CANN 8.5+/9.x), then {@code libhccl.so} (older);
 * collectives in {@code libhccl.so} ({@link HcclLibrary}). {@link Hccl} turns codes into {@link HcclException}s.
 */
@SuppressWarnings("unused")
public final class hccl_h {

    private hccl_h() {}

    public static final ValueLayout.OfInt C_INT = ValueLayout.JAVA_INT;
    public static final ValueLayout.OfLong C_LONG = ValueLayout.JAVA_LONG;
    public static final ValueLayout C_POINTER = ValueLayout.ADDRESS;

    /** {@code sizeof(HcclRootInfo)}: 4108 opaque bytes, alignment 1. */
    public static final int HCCL_ROOT_INFO_BYTES = 4108;
    // HcclDataType
    public static final int HCCL_DATA_TYPE_INT8 = 0;
    public static final int HCCL_DATA_TYPE_INT16 = 1;
    public static final int HCCL_DATA_TYPE_INT32 = 2;
    public static final int HCCL_DATA_TYPE_FP16 = 3;
    public static final int HCCL_DATA_TYPE_FP32 = 4;
    public static final int HCCL_DATA_TYPE_INT64 = 5;
    public static final int HCCL_DATA_TYPE_UINT64 = 6;
    public static final int HCCL_DATA_TYPE_UINT8 = 7;
    public static final int HCCL_DATA_TYPE_FP64 = 10;
    public static final int HCCL_DATA_TYPE_BFP16 = 11;
    // HcclReduceOp
    public static final int HCCL_REDUCE_SUM = 0;
    public static final int HCCL_REDUCE_PROD = 1;
    public static final int HCCL_REDUCE_MAX = 2;
    public static final int HCCL_REDUCE_MIN = 3;

    private static final class HcclGetRootInfo {
        static final FunctionDescriptor DESC = FunctionDescriptor.of(C_INT, C_POINTER);
        static final MethodHandle HANDLE = Linker.nativeLinker().downcallHandle(HcclLibrary.lifecycle("HcclGetRootInfo"), DESC);
    }

    /**
     * {@snippet lang=c :
     * HcclResult HcclGetRootInfo(HcclRootInfo *rootInfo)
     * }
     */
    public static int HcclGetRootInfo(MemorySegment rootInfo) {
        try {
            return (int) HcclGetRootInfo.HANDLE.invokeExact(rootInfo);
        } catch (Throwable t) {
            throw new AssertionError("should not reach here", t);
        }
    }

    private static final class HcclCommInitRootInfo {
        static final FunctionDescriptor DESC = FunctionDescriptor.of(C_INT, C_INT, C_POINTER, C_INT, C_POINTER);
        static final MethodHandle HANDLE = Linker.nativeLinker().downcallHandle(HcclLibrary.lifecycle("HcclCommInitRootInfo"), DESC);
    }

    /**
     * {@snippet lang=c :
     * HcclResult HcclCommInitRootInfo(uint32_t nRanks, const HcclRootInfo *rootInfo, uint32_t rank, HcclComm *comm)
     * }
     */
    public static int HcclCommInitRootInfo(int nRanks, MemorySegment rootInfo, int rank, MemorySegment comm) {
        try {
            return (int) HcclCommInitRootInfo.HANDLE.invokeExact(nRanks, rootInfo, rank, comm);
        } catch (Throwable t) {
            throw new AssertionError("should not reach here", t);
        }
    }

    private static final class HcclBarrier {
        static final FunctionDescriptor DESC = FunctionDescriptor.of(C_INT, C_POINTER, C_POINTER);
        static final MethodHandle HANDLE = Linker.nativeLinker().downcallHandle(HcclLibrary.lifecycle("HcclBarrier"), DESC);
    }

    /**
     * {@snippet lang=c :
     * HcclResult HcclBarrier(HcclComm comm, aclrtStream stream)
     * }
     */
    public static int HcclBarrier(MemorySegment comm, MemorySegment stream) {
        try {
            return (int) HcclBarrier.HANDLE.invokeExact(comm, stream);
        } catch (Throwable t) {
            throw new AssertionError("should not reach here", t);
        }
    }

    private static final class HcclCommDestroy {
        static final FunctionDescriptor DESC = FunctionDescriptor.of(C_INT, C_POINTER);
        static final MethodHandle HANDLE = Linker.nativeLinker().downcallHandle(HcclLibrary.lifecycle("HcclCommDestroy"), DESC);
    }

    /**
     * {@snippet lang=c :
     * HcclResult HcclCommDestroy(HcclComm comm)
     * }
     */
    public static int HcclCommDestroy(MemorySegment comm) {
        try {
            return (int) HcclCommDestroy.HANDLE.invokeExact(comm);
        } catch (Throwable t) {
            throw new AssertionError("should not reach here", t);
        }
    }

    private static final class HcclGetRankSize {
        static final FunctionDescriptor DESC = FunctionDescriptor.of(C_INT, C_POINTER, C_POINTER);
        static final MethodHandle HANDLE = Linker.nativeLinker().downcallHandle(HcclLibrary.lifecycle("HcclGetRankSize"), DESC);
    }

    /**
     * {@snippet lang=c :
     * HcclResult HcclGetRankSize(HcclComm comm, uint32_t *rankSize)
     * }
     */
    public static int HcclGetRankSize(MemorySegment comm, MemorySegment rankSize) {
        try {
            return (int) HcclGetRankSize.HANDLE.invokeExact(comm, rankSize);
        } catch (Throwable t) {
            throw new AssertionError("should not reach here", t);
        }
    }

    private static final class HcclGetRankId {
        static final FunctionDescriptor DESC = FunctionDescriptor.of(C_INT, C_POINTER, C_POINTER);
        static final MethodHandle HANDLE = Linker.nativeLinker().downcallHandle(HcclLibrary.lifecycle("HcclGetRankId"), DESC);
    }

    /**
     * {@snippet lang=c :
     * HcclResult HcclGetRankId(HcclComm comm, uint32_t *rank)
     * }
     */
    public static int HcclGetRankId(MemorySegment comm, MemorySegment rank) {
        try {
            return (int) HcclGetRankId.HANDLE.invokeExact(comm, rank);
        } catch (Throwable t) {
            throw new AssertionError("should not reach here", t);
        }
    }

    private static final class HcclGetErrorString {
        static final FunctionDescriptor DESC = FunctionDescriptor.of(C_POINTER, C_INT);
        static final MethodHandle HANDLE = Linker.nativeLinker().downcallHandle(HcclLibrary.lifecycle("HcclGetErrorString"), DESC);
    }

    /**
     * {@snippet lang=c :
     * const char *HcclGetErrorString(HcclResult code)
     * }
     */
    public static MemorySegment HcclGetErrorString(int code) {
        try {
            return (MemorySegment) HcclGetErrorString.HANDLE.invokeExact(code);
        } catch (Throwable t) {
            throw new AssertionError("should not reach here", t);
        }
    }

    private static final class HcclGetCommAsyncError {
        static final FunctionDescriptor DESC = FunctionDescriptor.of(C_INT, C_POINTER, C_POINTER);
        static final MethodHandle HANDLE = Linker.nativeLinker().downcallHandle(HcclLibrary.lifecycle("HcclGetCommAsyncError"), DESC);
    }

    /**
     * {@snippet lang=c :
     * HcclResult HcclGetCommAsyncError(HcclComm comm, HcclResult *asyncError)
     * }
     */
    public static int HcclGetCommAsyncError(MemorySegment comm, MemorySegment asyncError) {
        try {
            return (int) HcclGetCommAsyncError.HANDLE.invokeExact(comm, asyncError);
        } catch (Throwable t) {
            throw new AssertionError("should not reach here", t);
        }
    }

    private static final class HcclAllReduce {
        static final FunctionDescriptor DESC = FunctionDescriptor.of(C_INT, C_POINTER, C_POINTER, C_LONG, C_INT, C_INT, C_POINTER, C_POINTER);
        static final MethodHandle HANDLE = Linker.nativeLinker().downcallHandle(HcclLibrary.collective("HcclAllReduce"), DESC);
    }

    /**
     * {@snippet lang=c :
     * HcclResult HcclAllReduce(void *sendBuf, void *recvBuf, uint64_t count, HcclDataType dataType, HcclReduceOp op, HcclComm comm, aclrtStream stream)
     * }
     */
    public static int HcclAllReduce(MemorySegment sendBuf, MemorySegment recvBuf, long count, int dataType, int op, MemorySegment comm, MemorySegment stream) {
        try {
            return (int) HcclAllReduce.HANDLE.invokeExact(sendBuf, recvBuf, count, dataType, op, comm, stream);
        } catch (Throwable t) {
            throw new AssertionError("should not reach here", t);
        }
    }
}
