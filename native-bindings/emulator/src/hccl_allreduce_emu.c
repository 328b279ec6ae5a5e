/*
 * libhccl.so of Strata's emulator: HcclAllReduce over a communicator of libhcomm.so (hccl_emu.c), in
 * chunks of one slot: each rank copies its chunk of sendBuf into its slot, all meet in a barrier, each
 * reduces every slot into its recvBuf, all meet again. Queued on the caller's stream (as on hardware,
 * through the emulator's aclEmuEnqueueHostOp); a failure poisons the stream with 507018.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef int HcclResult;
typedef void *HcclComm;
typedef void *aclrtStream;
struct comm;
enum { HCCL_SUCCESS = 0, HCCL_E_PARA = 1, HCCL_E_PTR = 2, HCCL_E_MEMORY = 3, HCCL_E_NOT_SUPPORT = 5, HCCL_E_RUNTIME = 15 };
extern const char *HcclGetErrorString(HcclResult code);
enum { DT_INT8 = 0, DT_INT16 = 1, DT_INT32 = 2, DT_FP16 = 3, DT_FP32 = 4, DT_INT64 = 5, DT_UINT64 = 6, DT_UINT8 = 7, DT_FP64 = 10, DT_BFP16 = 11 };
enum { OP_SUM = 0, OP_PROD = 1, OP_MAX = 2, OP_MIN = 3 };

extern HcclResult hcclEmuBarrier(struct comm *c);
extern char *hcclEmuSlots(struct comm *c, uint32_t *nranks, uint32_t *rank, size_t *slotBytes);
extern void hcclEmuPending(struct comm *c, int delta);
typedef int aclError;
typedef aclError (*emu_host_op)(void *arg, char *msg, size_t msgBytes);
extern aclError aclEmuEnqueueHostOp(void *stream, const char *name, emu_host_op op, void *arg);
#define ACL_ERROR_RT_AICPU_EXCEPTION 507018

static size_t size_of(int dt) {
    switch (dt) {
        case DT_INT8: case DT_UINT8: return 1;
        case DT_INT16: case DT_FP16: case DT_BFP16: return 2;
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

/* IEEE half <-> float, round to nearest even (the emulator reduces 16-bit floats in float, as hardware accumulates wider). */
static float half_to_float(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000) << 16, exp = (h >> 10) & 0x1f, man = h & 0x3ff, bits;
    if (exp == 0) {
        if (man == 0) bits = sign;
        else { exp = 127 - 15 + 1; while (!(man & 0x400)) { man <<= 1; exp--; } man &= 0x3ff; bits = sign | (exp << 23) | (man << 13); }
    } else if (exp == 31) bits = sign | 0x7f800000u | (man << 13);
    else bits = sign | ((exp + 127 - 15) << 23) | (man << 13);
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

static uint16_t float_to_half(float f) {
    uint32_t x;
    memcpy(&x, &f, 4);
    uint32_t sign = (x >> 16) & 0x8000;
    int32_t exp = (int32_t)((x >> 23) & 0xff) - 127 + 15;
    uint32_t man = x & 0x7fffff;
    if (((x >> 23) & 0xff) == 0xff) return (uint16_t)(sign | 0x7c00 | (man ? 0x200 : 0));
    if (exp >= 31) return (uint16_t)(sign | 0x7c00);
    if (exp <= 0) {
        if (exp < -10) return (uint16_t)sign;
        man |= 0x800000;
        uint32_t shift = (uint32_t)(14 - exp), half = man >> shift, rem = man & ((1u << shift) - 1), mid = 1u << (shift - 1);
        if (rem > mid || (rem == mid && (half & 1))) half++;
        return (uint16_t)(sign | half);
    }
    uint32_t half = sign | ((uint32_t)exp << 10) | (man >> 13), rem = man & 0x1fff;
    if (rem > 0x1000 || (rem == 0x1000 && (half & 1))) half++;
    return (uint16_t)half;
}

static float bf16_to_float(uint16_t b) { uint32_t bits = (uint32_t)b << 16; float f; memcpy(&f, &bits, 4); return f; }

static uint16_t float_to_bf16(float f) {
    uint32_t x;
    memcpy(&x, &f, 4);
    if ((x & 0x7fffffff) > 0x7f800000) return (uint16_t)((x >> 16) | 0x40); /* NaN stays NaN */
    x += 0x7fff + ((x >> 16) & 1); /* round to nearest even */
    return (uint16_t)(x >> 16);
}

static float combine(float a, float b, int op) {
    switch (op) { case OP_SUM: return a + b; case OP_PROD: return a * b; case OP_MAX: return a > b ? a : b; default: return a < b ? a : b; }
}

static void reduce(void *dst, const void *src, size_t n, int dt, int op) {
    if (dt == DT_FP16 || dt == DT_BFP16) {
        uint16_t *d = dst;
        const uint16_t *s = src;
        for (size_t i = 0; i < n; i++) {
            d[i] = dt == DT_FP16 ? float_to_half(combine(half_to_float(d[i]), half_to_float(s[i]), op))
                                 : float_to_bf16(combine(bf16_to_float(d[i]), bf16_to_float(s[i]), op));
        }
        return;
    }
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

/* One queued all-reduce: its arguments, captured at the call, read on the stream thread. */
typedef struct { void *send, *recv; uint64_t count; int dataType, op; struct comm *comm; } allreduce_t;

static HcclResult run_allreduce(allreduce_t *a) {
    size_t es = size_of(a->dataType);
    uint32_t nranks, rank;
    size_t slot;
    char *slots = hcclEmuSlots(a->comm, &nranks, &rank, &slot);
    size_t per = slot / es, total = (size_t)a->count;
    for (size_t at = 0; at < total || (total == 0 && at == 0); at += per) {
        size_t n = total - at < per ? total - at : per;
        memcpy(slots + (size_t)rank * slot, (char *)a->send + at * es, n * es);
        HcclResult rc = hcclEmuBarrier(a->comm);
        if (rc) return rc;
        char *out = (char *)a->recv + at * es;
        memcpy(out, slots, n * es);
        for (uint32_t r = 1; r < nranks; r++) reduce(out, slots + (size_t)r * slot, n, a->dataType, a->op);
        rc = hcclEmuBarrier(a->comm); /* nobody overwrites a slot before every rank has read it */
        if (rc) return rc;
        if (total == 0) break;
    }
    return HCCL_SUCCESS;
}

/* The stream runs it, or skips it (a poisoned stream: msg is NULL) and it only releases its arguments. */
static aclError allreduce_op(void *arg, char *msg, size_t msgBytes) {
    allreduce_t *a = arg;
    aclError err = 0;
    if (msg) {
        HcclResult rc = run_allreduce(a);
        if (rc) {
            err = ACL_ERROR_RT_AICPU_EXCEPTION; /* how a failed collective surfaces at the stream's synchronize */
            snprintf(msg, msgBytes, "HcclAllReduce of %llu elements failed on the device: %s (HCCL %d)%s",
                     (unsigned long long)a->count, HcclGetErrorString(rc), rc,
                     rc == 9 ? "; a peer did not arrive within HCCL_EMU_EXEC_TIMEOUT_MS" : rc == 21 ? "; a peer failed, timed out or left the communicator" : "");
        }
    }
    hcclEmuPending(a->comm, -1);
    free(a);
    return err;
}

/* Queued on `stream` as on hardware: returns at once; the result (or failure) shows at the stream's synchronize. */
HcclResult HcclAllReduce(void *sendBuf, void *recvBuf, uint64_t count, int dataType, int op, HcclComm comm, aclrtStream stream) {
    if (!sendBuf || !recvBuf || !comm || !stream) return HCCL_E_PTR;
    if (size_of(dataType) == 0) return HCCL_E_NOT_SUPPORT;
    if (op < OP_SUM || op > OP_MIN) return HCCL_E_PARA;
    allreduce_t *a = malloc(sizeof *a);
    if (!a) return HCCL_E_MEMORY;
    *a = (allreduce_t){sendBuf, recvBuf, count, dataType, op, comm};
    hcclEmuPending(comm, 1);
    if (aclEmuEnqueueHostOp(stream, "HcclAllReduce", allreduce_op, a) != 0) {
        hcclEmuPending(comm, -1);
        free(a);
        return HCCL_E_RUNTIME;
    }
    return HCCL_SUCCESS;
}
