/*
 * libhccl.so of Strata's emulator: HcclAllReduce over a communicator of libhcomm.so (hccl_emu.c), in
 * chunks of one slot: each rank copies its chunk of sendBuf into its slot, all meet in a barrier, each
 * reduces every slot into its recvBuf, all meet again. Synchronous on the calling thread.
 */
#include <stdint.h>
#include <string.h>

typedef int HcclResult;
typedef void *HcclComm;
typedef void *aclrtStream;
struct comm;
enum { HCCL_SUCCESS = 0, HCCL_E_PARA = 1, HCCL_E_PTR = 2, HCCL_E_NOT_SUPPORT = 5 };
enum { DT_INT8 = 0, DT_INT16 = 1, DT_INT32 = 2, DT_FP16 = 3, DT_FP32 = 4, DT_INT64 = 5, DT_UINT64 = 6, DT_UINT8 = 7, DT_FP64 = 10 };
enum { OP_SUM = 0, OP_PROD = 1, OP_MAX = 2, OP_MIN = 3 };

extern HcclResult hcclEmuBarrier(struct comm *c);
extern char *hcclEmuSlots(struct comm *c, uint32_t *nranks, uint32_t *rank, size_t *slotBytes);

static size_t size_of(int dt) {
    switch (dt) {
        case DT_INT8: case DT_UINT8: return 1;
        case DT_INT16: case DT_FP16: return 2;
        case DT_INT32: case DT_FP32: return 4;
        case DT_INT64: case DT_UINT64: case DT_FP64: return 8;
        default: return 0;
    }
}

#define REDUCE(T) do { \
    T *d = (T *)dst; const T *s = (const T *)src; \
    for (size_t i = 0; i < n; i++) { \
        switch (op) { case OP_SUM: d[i] = d[i] + s[i]; break; case OP_PROD: d[i] = d[i] * s[i]; break; \
                      case OP_MAX: d[i] = d[i] > s[i] ? d[i] : s[i]; break; default: d[i] = d[i] < s[i] ? d[i] : s[i]; } \
    } } while (0)

static void reduce(void *dst, const void *src, size_t n, int dt, int op) {
    switch (dt) {
        case DT_INT8: REDUCE(int8_t); break;
        case DT_UINT8: REDUCE(uint8_t); break;
        case DT_INT16: REDUCE(int16_t); break;
        case DT_INT32: REDUCE(int32_t); break;
        case DT_FP32: REDUCE(float); break;
        case DT_INT64: REDUCE(int64_t); break;
        case DT_UINT64: REDUCE(uint64_t); break;
        case DT_FP64: REDUCE(double); break;
        default: break;
    }
}

HcclResult HcclAllReduce(void *sendBuf, void *recvBuf, uint64_t count, int dataType, int op, HcclComm comm, aclrtStream stream) {
    (void)stream;
    if (!sendBuf || !recvBuf || !comm) return HCCL_E_PTR;
    size_t es = size_of(dataType);
    if (es == 0 || dataType == DT_FP16) return HCCL_E_NOT_SUPPORT; /* FP16/BF16 need half arithmetic: not emulated yet */
    if (op < OP_SUM || op > OP_MIN) return HCCL_E_PARA;
    uint32_t nranks, rank;
    size_t slot;
    char *slots = hcclEmuSlots(comm, &nranks, &rank, &slot);
    size_t per = slot / es, total = (size_t)count;
    for (size_t at = 0; at < total || (total == 0 && at == 0); at += per) {
        size_t n = total - at < per ? total - at : per;
        memcpy(slots + (size_t)rank * slot, (char *)sendBuf + at * es, n * es);
        HcclResult rc = hcclEmuBarrier(comm);
        if (rc) return rc;
        char *out = (char *)recvBuf + at * es;
        memcpy(out, slots, n * es);
        for (uint32_t r = 1; r < nranks; r++) reduce(out, slots + (size_t)r * slot, n, dataType, op);
        rc = hcclEmuBarrier(comm); /* nobody overwrites a slot before every rank has read it */
        if (rc) return rc;
        if (total == 0) break;
    }
    return HCCL_SUCCESS;
}
