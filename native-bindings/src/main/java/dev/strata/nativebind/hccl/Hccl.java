package dev.strata.nativebind.hccl;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * HCCL with errors as exceptions. Root info is 4108 opaque bytes: rank 0 creates it
 * ({@link #rootInfo()}, with a device bound on the calling thread) and the host hands the bytes to every
 * rank, which joins with {@link #initRank}. A communicator is a raw handle.
 */
public final class Hccl {

    private Hccl() {}

    public static final int HCCL_SUCCESS = 0;
    public static final int HCCL_E_PARA = 1;
    public static final int HCCL_E_PTR = 2;
    public static final int HCCL_E_TIMEOUT = 9;
    public static final int HCCL_E_RUNTIME = 15;
    public static final int HCCL_E_REMOTE = 21;

    private static final String[] NAMES = {
        "HCCL_SUCCESS", "HCCL_E_PARA", "HCCL_E_PTR", "HCCL_E_MEMORY", "HCCL_E_INTERNAL", "HCCL_E_NOT_SUPPORT",
        "HCCL_E_NOT_FOUND", "HCCL_E_UNAVAIL", "HCCL_E_SYSCALL", "HCCL_E_TIMEOUT", "HCCL_E_OPEN_FILE_FAILURE",
        "HCCL_E_TCP_CONNECT", "HCCL_E_ROCE_CONNECT", "HCCL_E_TCP_TRANSFER", "HCCL_E_ROCE_TRANSFER", "HCCL_E_RUNTIME",
        "HCCL_E_DRV", "HCCL_E_PROFILING", "HCCL_E_CCE", "HCCL_E_NETWORK", "HCCL_E_AGAIN", "HCCL_E_REMOTE",
        "HCCL_E_SUSPENDING", "HCCL_E_OPRETRY_FAIL", "HCCL_E_OOM",
    };

    /** The name of an {@code HcclResult}, e.g. {@code HCCL_E_TIMEOUT}. */
    public static String resultName(int code) {
        return code >= 0 && code < NAMES.length ? NAMES[code] : (code == 1041 ? "HCCL_E_IN_STATUS" : "HCCL_E_" + code);
    }

    /** Throws {@link HcclException} for a non-zero {@code rc}, with {@code HcclGetErrorString}'s text. */
    public static void check(int rc, String operation) {
        if (rc == HCCL_SUCCESS) return;
        String text = null;
        try {
            MemorySegment p = hccl_h.HcclGetErrorString(rc);
            if (!p.equals(MemorySegment.NULL)) text = p.reinterpret(Long.MAX_VALUE).getString(0);
        } catch (Throwable ignored) {
            // the code and its name say enough
        }
        throw new HcclException(operation, rc, text);
    }

    /** {@code HcclGetRootInfo}: the 4108 bytes every rank needs (a device must be bound on this thread). */
    public static byte[] rootInfo() {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment ri = a.allocate(hccl_h.HCCL_ROOT_INFO_BYTES);
            check(hccl_h.HcclGetRootInfo(ri), "HcclGetRootInfo");
            return ri.toArray(ValueLayout.JAVA_BYTE);
        }
    }

    /** {@code HcclCommInitRootInfo}: joins rank {@code rank} of {@code nRanks}; blocks until all joined (bounded by HCCL_CONNECT_TIMEOUT). */
    public static MemorySegment initRank(int nRanks, byte[] rootInfo, int rank) {
        if (rootInfo.length != hccl_h.HCCL_ROOT_INFO_BYTES) {
            throw new IllegalArgumentException("root info must be " + hccl_h.HCCL_ROOT_INFO_BYTES + " bytes, was " + rootInfo.length);
        }
        try (Arena a = Arena.ofConfined()) {
            MemorySegment ri = a.allocateFrom(ValueLayout.JAVA_BYTE, rootInfo);
            MemorySegment comm = a.allocate(ValueLayout.ADDRESS);
            check(hccl_h.HcclCommInitRootInfo(nRanks, ri, rank, comm), "HcclCommInitRootInfo(rank " + rank + " of " + nRanks + ")");
            return comm.get(ValueLayout.ADDRESS, 0);
        }
    }

    /** {@code HcclBarrier}. */
    public static void barrier(MemorySegment comm, MemorySegment stream) {
        check(hccl_h.HcclBarrier(comm, stream), "HcclBarrier");
    }

    /** {@code HcclAllReduce} over device buffers ({@code count} elements of {@code dataType}). */
    public static void allReduce(long sendDevPtr, long recvDevPtr, long count, int dataType, int op, MemorySegment comm, MemorySegment stream) {
        check(hccl_h.HcclAllReduce(MemorySegment.ofAddress(sendDevPtr), MemorySegment.ofAddress(recvDevPtr), count, dataType, op, comm, stream),
                "HcclAllReduce(" + count + " elements)");
    }

    /** {rank, rankSize} of {@code comm}. */
    public static int[] rankAndSize(MemorySegment comm) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment v = a.allocate(ValueLayout.JAVA_INT, 2);
            check(hccl_h.HcclGetRankId(comm, v), "HcclGetRankId");
            check(hccl_h.HcclGetRankSize(comm, v.asSlice(4)), "HcclGetRankSize");
            return new int[] {v.getAtIndex(ValueLayout.JAVA_INT, 0), v.getAtIndex(ValueLayout.JAVA_INT, 1)};
        }
    }

    /** {@code HcclCommDestroy}. */
    public static void destroy(MemorySegment comm) {
        check(hccl_h.HcclCommDestroy(comm), "HcclCommDestroy");
    }
}
