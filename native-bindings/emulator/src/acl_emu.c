/*
 * Strata's ABI-compatible CPU emulator of the CANN ACL runtime subset that Strata binds
 * (docs/hardware.md; facts from ../shared/reference/acl-hccl-api.md §10). It exports the real
 * extern "C" names, signatures, enum values and error codes, and models:
 *   - process init (aclInit reference count, 100002 on repeat, 100001 before it),
 *   - devices (ACL_EMU_DEVICES, default 8, after ASCEND_RT_VISIBLE_DEVICES) bound per thread
 *     (107002 when a thread never called aclrtSetDevice), per-device memory limit (ACL_EMU_MEM_BYTES),
 *   - device memory as shared host memory (the "device pointer" is the host address), with an
 *     allocation table that validates every pointer,
 *   - streams as FIFO worker threads; a failed task poisons its stream and surfaces at synchronize,
 *   - kernels as host shared objects: aclrtBinaryLoadFromFile dlopens, aclrtBinaryGetFunction dlsyms,
 *     a launch calls `void kernel(void *args, uint32_t blockIdx, uint32_t numBlocks)` once per block,
 *   - fault injection: ACL_EMU_FAULTS="fn=code[xN],…" (read at aclInit) or aclEmuInjectFault().
 * It is test infrastructure: it is not faster or more capable than hardware, and says so in its SoC name.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

typedef int aclError;
typedef void *aclrtStream;
typedef void *aclrtBinHandle;
typedef void *aclrtFuncHandle;

#define ACL_SUCCESS 0
#define ACL_ERROR_INVALID_PARAM 100000
#define ACL_ERROR_UNINITIALIZE 100001
#define ACL_ERROR_REPEAT_INITIALIZE 100002
#define ACL_ERROR_REPEAT_FINALIZE 100037
#define ACL_ERROR_RT_PARAM_INVALID 107000
#define ACL_ERROR_RT_INVALID_DEVICEID 107001
#define ACL_ERROR_RT_CONTEXT_NULL 107002
#define ACL_ERROR_RT_STREAM_CONTEXT 107003
#define ACL_ERROR_RT_INVALID_HANDLE 107017
#define ACL_ERROR_RT_MEMORY_ALLOCATION 207001
#define ACL_ERROR_RT_AICORE_EXCEPTION 507015
#define ACL_ERROR_RT_STREAM_SYNC_TIMEOUT 507046

#define MAX_DEVICES 64
#define MAX_FAULTS 32

typedef void (*emu_kernel)(void *args, uint32_t blockIdx, uint32_t numBlocks);

/* ---- errors: a thread-local "recent message" in the real runtime's style ---- */

static __thread char recent_msg[1024];
static __thread int recent_set;

static aclError fail(aclError code, const char *fmt, ...) {
    char body[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(body, sizeof body, fmt, ap);
    va_end(ap);
    snprintf(recent_msg, sizeof recent_msg, "[PID: %d] EMU Runtime(EE%06d): %s", (int)getpid(), code, body);
    recent_set = 1;
    return code;
}

const char *aclGetRecentErrMsg(void) {
    if (!recent_set) return NULL;
    recent_set = 0; /* get and clear, as the runtime does by default */
    return recent_msg;
}

/* ---- fault injection ---- */

typedef struct { char name[64]; int code; int remaining; /* -1: always */ } fault_t;
static fault_t faults[MAX_FAULTS];
static int nfaults;
static pthread_mutex_t fault_lock = PTHREAD_MUTEX_INITIALIZER;

/* Makes the next `count` calls of `fn` (or every call, count < 0) fail with `code`; code 0 clears it. */
int aclEmuInjectFault(const char *fn, int code, int count) {
    pthread_mutex_lock(&fault_lock);
    int slot = -1;
    for (int i = 0; i < nfaults; i++) if (strcmp(faults[i].name, fn) == 0) slot = i;
    if (slot < 0 && nfaults < MAX_FAULTS) slot = nfaults++;
    if (slot >= 0) {
        snprintf(faults[slot].name, sizeof faults[slot].name, "%s", fn);
        faults[slot].code = code;
        faults[slot].remaining = count < 0 ? -1 : count;
    }
    pthread_mutex_unlock(&fault_lock);
    return slot >= 0 ? 0 : -1;
}

static int injected(const char *fn) {
    int code = 0;
    pthread_mutex_lock(&fault_lock);
    for (int i = 0; i < nfaults; i++) {
        if (faults[i].code != 0 && faults[i].remaining != 0 && strcmp(faults[i].name, fn) == 0) {
            code = faults[i].code;
            if (faults[i].remaining > 0) faults[i].remaining--;
        }
    }
    pthread_mutex_unlock(&fault_lock);
    return code;
}

#define CHECK_FAULT(fn) do { int c_ = injected(fn); if (c_) return fail(c_, "%s failed (injected by ACL_EMU_FAULTS)", fn); } while (0)

static void parse_faults(void) {
    const char *spec = getenv("ACL_EMU_FAULTS"); /* fn=code[xN],fn=code */
    if (!spec) return;
    char buf[1024];
    snprintf(buf, sizeof buf, "%s", spec);
    for (char *tok = strtok(buf, ","); tok; tok = strtok(NULL, ",")) {
        char *eq = strchr(tok, '=');
        if (!eq) continue;
        *eq = 0;
        int count = -1;
        char *x = strchr(eq + 1, 'x');
        if (x) { *x = 0; count = atoi(x + 1); }
        aclEmuInjectFault(tok, atoi(eq + 1), count);
    }
}

/* ---- process and devices ---- */

static pthread_mutex_t state_lock = PTHREAD_MUTEX_INITIALIZER;
static int init_count;
static int device_count = -1;
static long long device_mem_limit = 1LL << 30;
static long long device_mem_used[MAX_DEVICES];
static int device_refs[MAX_DEVICES];
static __thread int current_device = -1;

static void read_devices(void) {
    int n = 8;
    const char *e = getenv("ACL_EMU_DEVICES");
    if (e && atoi(e) > 0) n = atoi(e) > MAX_DEVICES ? MAX_DEVICES : atoi(e);
    const char *vis = getenv("ASCEND_RT_VISIBLE_DEVICES"); /* ascending ids; parsing stops at the first bad one */
    if (vis && *vis) {
        int visible = 0, last = -1;
        const char *p = vis;
        while (*p) {
            char *end;
            long id = strtol(p, &end, 10);
            if (end == p || id <= last || id >= n) break;
            visible++;
            last = (int)id;
            p = end;
            if (*p == ',') p++; else break;
        }
        n = visible;
    }
    device_count = n;
    const char *m = getenv("ACL_EMU_MEM_BYTES");
    if (m && atoll(m) > 0) device_mem_limit = atoll(m);
}

aclError aclInit(const char *configPath) {
    (void)configPath;
    CHECK_FAULT("aclInit");
    pthread_mutex_lock(&state_lock);
    int first = init_count++ == 0;
    if (first) { read_devices(); parse_faults(); }
    pthread_mutex_unlock(&state_lock);
    return first ? ACL_SUCCESS : fail(ACL_ERROR_REPEAT_INITIALIZE, "aclInit was already called in this process");
}

aclError aclFinalize(void) {
    pthread_mutex_lock(&state_lock);
    int was = init_count;
    init_count = 0;
    pthread_mutex_unlock(&state_lock);
    return was ? ACL_SUCCESS : fail(ACL_ERROR_REPEAT_FINALIZE, "aclFinalize without a matching aclInit");
}

#define NEED_INIT() do { if (init_count == 0) return fail(ACL_ERROR_UNINITIALIZE, "aclInit was not called"); } while (0)
#define NEED_DEVICE() do { NEED_INIT(); if (current_device < 0) return fail(ACL_ERROR_RT_CONTEXT_NULL, "context is null: this thread never called aclrtSetDevice or aclrtSetCurrentContext"); } while (0)

aclError aclrtGetVersion(int32_t *major, int32_t *minor, int32_t *patch) {
    if (!major || !minor || !patch) return fail(ACL_ERROR_INVALID_PARAM, "aclrtGetVersion: NULL argument");
    *major = 1; *minor = 16; *patch = 0;
    return ACL_SUCCESS;
}

const char *aclrtGetSocName(void) { return "EMU-CPU (Strata ACL emulator; not hardware)"; }

aclError aclrtGetDeviceCount(uint32_t *count) {
    NEED_INIT();
    CHECK_FAULT("aclrtGetDeviceCount");
    if (!count) return fail(ACL_ERROR_INVALID_PARAM, "aclrtGetDeviceCount: count is NULL");
    *count = (uint32_t)device_count;
    return ACL_SUCCESS;
}

aclError aclrtSetDevice(int32_t deviceId) {
    NEED_INIT();
    CHECK_FAULT("aclrtSetDevice");
    if (deviceId < 0 || deviceId >= device_count) return fail(ACL_ERROR_RT_INVALID_DEVICEID, "device %d does not exist (0..%d)", deviceId, device_count - 1);
    pthread_mutex_lock(&state_lock);
    device_refs[deviceId]++;
    pthread_mutex_unlock(&state_lock);
    current_device = deviceId;
    return ACL_SUCCESS;
}

aclError aclrtGetDevice(int32_t *deviceId) {
    NEED_DEVICE();
    if (!deviceId) return fail(ACL_ERROR_INVALID_PARAM, "aclrtGetDevice: NULL argument");
    *deviceId = current_device;
    return ACL_SUCCESS;
}

aclError aclrtResetDevice(int32_t deviceId) {
    NEED_INIT();
    if (deviceId < 0 || deviceId >= device_count) return fail(ACL_ERROR_RT_INVALID_DEVICEID, "device %d does not exist", deviceId);
    pthread_mutex_lock(&state_lock);
    if (device_refs[deviceId] > 0) device_refs[deviceId]--;
    pthread_mutex_unlock(&state_lock);
    if (current_device == deviceId) current_device = -1;
    return ACL_SUCCESS;
}

aclError aclrtResetDeviceForce(int32_t deviceId) {
    NEED_INIT();
    if (deviceId < 0 || deviceId >= device_count) return fail(ACL_ERROR_RT_INVALID_DEVICEID, "device %d does not exist", deviceId);
    pthread_mutex_lock(&state_lock);
    device_refs[deviceId] = 0;
    pthread_mutex_unlock(&state_lock);
    if (current_device == deviceId) current_device = -1;
    return ACL_SUCCESS;
}

/* ---- memory: an allocation table over shared anonymous mappings ---- */

typedef struct alloc { char *base; size_t size; size_t mapped; int device; struct alloc *next; } alloc_t;
static alloc_t *allocs;
static pthread_mutex_t mem_lock = PTHREAD_MUTEX_INITIALIZER;

/* The allocation holding [p, p + n), or NULL. Caller holds mem_lock. */
static alloc_t *find(const void *p, size_t n) {
    for (alloc_t *a = allocs; a; a = a->next) {
        if ((const char *)p >= a->base && (const char *)p + n <= a->base + a->size) return a;
    }
    return NULL;
}

aclError aclrtMalloc(void **devPtr, size_t size, int policy) {
    (void)policy;
    NEED_DEVICE();
    CHECK_FAULT("aclrtMalloc");
    if (!devPtr || size == 0) return fail(ACL_ERROR_INVALID_PARAM, "aclrtMalloc: devPtr NULL or size 0");
    size_t padded = (size + 31) / 32 * 32 + 32; /* A2/A3 rounding: a multiple of 32, plus 32 */
    pthread_mutex_lock(&mem_lock);
    if (device_mem_used[current_device] + (long long)padded > device_mem_limit) {
        long long free_bytes = device_mem_limit - device_mem_used[current_device];
        pthread_mutex_unlock(&mem_lock);
        return fail(ACL_ERROR_RT_MEMORY_ALLOCATION, "device %d: out of memory: %zu B asked, %lld B free of %lld", current_device, size, free_bytes, device_mem_limit);
    }
    void *m = mmap(NULL, padded, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED) { pthread_mutex_unlock(&mem_lock); return fail(ACL_ERROR_RT_MEMORY_ALLOCATION, "mmap of %zu B failed: %s", padded, strerror(errno)); }
    alloc_t *a = calloc(1, sizeof *a);
    a->base = m; a->size = size; a->mapped = padded; a->device = current_device; a->next = allocs;
    allocs = a;
    device_mem_used[current_device] += padded;
    pthread_mutex_unlock(&mem_lock);
    *devPtr = m;
    return ACL_SUCCESS;
}

aclError aclrtFree(void *devPtr) {
    NEED_INIT();
    CHECK_FAULT("aclrtFree");
    pthread_mutex_lock(&mem_lock);
    for (alloc_t **pp = &allocs; *pp; pp = &(*pp)->next) {
        alloc_t *a = *pp;
        if (a->base == devPtr) {
            *pp = a->next;
            device_mem_used[a->device] -= a->mapped;
            pthread_mutex_unlock(&mem_lock);
            munmap(a->base, a->mapped);
            free(a);
            return ACL_SUCCESS;
        }
    }
    pthread_mutex_unlock(&mem_lock);
    return fail(ACL_ERROR_RT_PARAM_INVALID, "aclrtFree: %p is not the start of a device allocation", devPtr);
}

aclError aclrtGetMemInfo(int attr, size_t *freeBytes, size_t *total) {
    (void)attr;
    NEED_DEVICE();
    if (!freeBytes || !total) return fail(ACL_ERROR_INVALID_PARAM, "aclrtGetMemInfo: NULL argument");
    pthread_mutex_lock(&mem_lock);
    *total = (size_t)device_mem_limit;
    *freeBytes = (size_t)(device_mem_limit - device_mem_used[current_device]);
    pthread_mutex_unlock(&mem_lock);
    return ACL_SUCCESS;
}

enum { H2H = 0, H2D = 1, D2H = 2, D2D = 3, DEFAULT_KIND = 4 };

/* Checks that the device side(s) of a copy lie inside allocations. */
static aclError check_copy(void *dst, size_t destMax, const void *src, size_t count, int kind) {
    if (!dst || !src) return fail(ACL_ERROR_INVALID_PARAM, "memcpy: NULL pointer");
    if (destMax < count) return fail(ACL_ERROR_INVALID_PARAM, "memcpy: destMax %zu < count %zu", destMax, count);
    if (kind < 0 || kind > DEFAULT_KIND) return fail(ACL_ERROR_INVALID_PARAM, "memcpy: kind %d is not an aclrtMemcpyKind", kind);
    int dstDev = kind == H2D || kind == D2D, srcDev = kind == D2H || kind == D2D;
    pthread_mutex_lock(&mem_lock);
    int ok = (!dstDev || find(dst, count)) && (!srcDev || find(src, count));
    pthread_mutex_unlock(&mem_lock);
    if (!ok) return fail(ACL_ERROR_RT_PARAM_INVALID, "memcpy (kind %d): a device pointer is not inside a device allocation (dst %p, src %p, %zu B)", kind, dst, src, count);
    return ACL_SUCCESS;
}

aclError aclrtMemcpy(void *dst, size_t destMax, const void *src, size_t count, int kind) {
    NEED_DEVICE();
    CHECK_FAULT("aclrtMemcpy");
    aclError e = check_copy(dst, destMax, src, count, kind);
    if (e) return e;
    memmove(dst, src, count);
    return ACL_SUCCESS;
}

aclError aclrtMemset(void *devPtr, size_t maxCount, int32_t value, size_t count) {
    NEED_DEVICE();
    CHECK_FAULT("aclrtMemset");
    if (maxCount < count) return fail(ACL_ERROR_INVALID_PARAM, "aclrtMemset: maxCount %zu < count %zu", maxCount, count);
    pthread_mutex_lock(&mem_lock);
    int ok = find(devPtr, count) != NULL;
    pthread_mutex_unlock(&mem_lock);
    if (!ok) return fail(ACL_ERROR_RT_PARAM_INVALID, "aclrtMemset: %p is not inside a device allocation", devPtr);
    memset(devPtr, value, count);
    return ACL_SUCCESS;
}

/* ---- streams: FIFO worker threads ---- */

/* A host operation queued on a stream (the emulator's collectives): returns 0, or an ACL error code with a message. */
typedef aclError (*emu_host_op)(void *arg, char *msg, size_t msgBytes);

typedef struct task {
    int kind; /* 0 kernel, 1 copy, 2 host operation */
    emu_kernel fn; char name[128]; uint32_t blocks; void *args;
    emu_host_op op;
    void *dst; const void *src; size_t count;
    struct task *next;
} task_t;

typedef struct stream {
    int device;
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t changed;
    task_t *head, *tail;
    int busy, stop;
    aclError poisoned; char poison_msg[512];
} stream_t;

static void *stream_main(void *arg) {
    stream_t *s = arg;
    pthread_mutex_lock(&s->lock);
    for (;;) {
        while (!s->head && !s->stop) pthread_cond_wait(&s->changed, &s->lock);
        if (!s->head && s->stop) break;
        task_t *t = s->head;
        s->head = t->next;
        if (!s->head) s->tail = NULL;
        s->busy = 1;
        int skip = s->poisoned != 0; /* stop on failure: later tasks of a poisoned stream do not run */
        pthread_mutex_unlock(&s->lock);
        aclError err = 0;
        char msg[512] = "";
        if (!skip) {
            if (t->kind == 0) {
                int c = injected(t->name); /* "kernel name" faults model a kernel that traps */
                if (c) { err = c; snprintf(msg, sizeof msg, "kernel '%s' failed on the device (injected)", t->name); }
                else for (uint32_t b = 0; b < t->blocks; b++) t->fn(t->args, b, t->blocks);
            } else if (t->kind == 2) {
                err = t->op(t->args, msg, sizeof msg);
            } else {
                memmove(t->dst, t->src, t->count);
            }
        }
        if (skip && t->kind == 2) t->op(t->args, NULL, 0); /* a skipped host operation still releases what it holds */
        pthread_mutex_lock(&s->lock);
        if (err && !s->poisoned) { s->poisoned = err; snprintf(s->poison_msg, sizeof s->poison_msg, "%s", msg); }
        s->busy = 0;
        free(t);
        pthread_cond_broadcast(&s->changed);
    }
    pthread_mutex_unlock(&s->lock);
    return NULL;
}

aclError aclrtCreateStream(aclrtStream *stream) {
    NEED_DEVICE();
    CHECK_FAULT("aclrtCreateStream");
    if (!stream) return fail(ACL_ERROR_INVALID_PARAM, "aclrtCreateStream: NULL argument");
    stream_t *s = calloc(1, sizeof *s);
    s->device = current_device;
    pthread_mutex_init(&s->lock, NULL);
    pthread_cond_init(&s->changed, NULL);
    if (pthread_create(&s->thread, NULL, stream_main, s) != 0) { free(s); return fail(ACL_ERROR_RT_MEMORY_ALLOCATION, "cannot start a stream thread"); }
    *stream = s;
    return ACL_SUCCESS;
}

static aclError check_stream(stream_t *s) {
    if (!s) return fail(ACL_ERROR_RT_INVALID_HANDLE, "NULL stream (the emulator has no default stream)");
    if (s->device != current_device) return fail(ACL_ERROR_RT_STREAM_CONTEXT, "the stream belongs to device %d, this thread is bound to device %d", s->device, current_device);
    return ACL_SUCCESS;
}

static void enqueue(stream_t *s, task_t *t) {
    pthread_mutex_lock(&s->lock);
    if (s->tail) s->tail->next = t; else s->head = t;
    s->tail = t;
    pthread_cond_broadcast(&s->changed);
    pthread_mutex_unlock(&s->lock);
}

aclError aclrtSynchronizeStreamWithTimeout(aclrtStream stream, int32_t timeout) {
    NEED_DEVICE();
    CHECK_FAULT("aclrtSynchronizeStreamWithTimeout");
    stream_t *s = stream;
    aclError e = check_stream(s);
    if (e) return e;
    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    if (timeout > 0) {
        deadline.tv_sec += timeout / 1000;
        deadline.tv_nsec += (long)(timeout % 1000) * 1000000L;
        if (deadline.tv_nsec >= 1000000000L) { deadline.tv_sec++; deadline.tv_nsec -= 1000000000L; }
    }
    pthread_mutex_lock(&s->lock);
    while (s->head || s->busy) {
        if (timeout == 0) break;
        if (timeout < 0) pthread_cond_wait(&s->changed, &s->lock);
        else if (pthread_cond_timedwait(&s->changed, &s->lock, &deadline) == ETIMEDOUT) break;
    }
    int pending = s->head || s->busy;
    aclError poisoned = s->poisoned;
    char msg[512];
    snprintf(msg, sizeof msg, "%s", s->poison_msg);
    pthread_mutex_unlock(&s->lock);
    if (poisoned) return fail(poisoned, "%s", msg);
    if (pending) return fail(ACL_ERROR_RT_STREAM_SYNC_TIMEOUT, "the stream's tasks did not finish within %d ms", timeout);
    return ACL_SUCCESS;
}

aclError aclrtSynchronizeStream(aclrtStream stream) { return aclrtSynchronizeStreamWithTimeout(stream, -1); }

aclError aclrtDestroyStream(aclrtStream stream) {
    /* Documented choice: destroy drains the stream first (the real runtime wants it drained). */
    NEED_DEVICE();
    stream_t *s = stream;
    aclError e = check_stream(s);
    if (e) return e;
    pthread_mutex_lock(&s->lock);
    s->stop = 1;
    pthread_cond_broadcast(&s->changed);
    pthread_mutex_unlock(&s->lock);
    pthread_join(s->thread, NULL);
    pthread_mutex_destroy(&s->lock);
    pthread_cond_destroy(&s->changed);
    free(s);
    return ACL_SUCCESS;
}

aclError aclrtMemcpyAsync(void *dst, size_t destMax, const void *src, size_t count, int kind, aclrtStream stream) {
    NEED_DEVICE();
    CHECK_FAULT("aclrtMemcpyAsync");
    aclError e = check_stream(stream);
    if (e) return e;
    e = check_copy(dst, destMax, src, count, kind);
    if (e) return e;
    task_t *t = calloc(1, sizeof *t);
    t->kind = 1; t->dst = dst; t->src = src; t->count = count;
    enqueue(stream, t);
    return ACL_SUCCESS;
}

/* ---- kernels: host shared objects ---- */

typedef struct { void *dl; char path[512]; } binary_t;
typedef struct { emu_kernel fn; char name[128]; } function_t;

aclError aclrtBinaryLoadFromFile(const char *binPath, void *options, aclrtBinHandle *binHandle) {
    (void)options;
    NEED_DEVICE();
    CHECK_FAULT("aclrtBinaryLoadFromFile");
    if (!binPath || !binHandle) return fail(ACL_ERROR_INVALID_PARAM, "aclrtBinaryLoadFromFile: NULL argument");
    if (binPath[0] != '/') return fail(ACL_ERROR_INVALID_PARAM, "aclrtBinaryLoadFromFile: '%s' is not an absolute path", binPath);
    void *dl = dlopen(binPath, RTLD_NOW | RTLD_LOCAL);
    if (!dl) return fail(ACL_ERROR_INVALID_PARAM, "cannot load kernel binary '%s': %s", binPath, dlerror());
    binary_t *b = calloc(1, sizeof *b);
    b->dl = dl;
    snprintf(b->path, sizeof b->path, "%s", binPath);
    *binHandle = b;
    return ACL_SUCCESS;
}

aclError aclrtBinaryGetFunction(const aclrtBinHandle binHandle, const char *kernelName, aclrtFuncHandle *funcHandle) {
    NEED_DEVICE();
    if (!binHandle || !kernelName || !funcHandle) return fail(ACL_ERROR_INVALID_PARAM, "aclrtBinaryGetFunction: NULL argument");
    binary_t *b = binHandle;
    void *sym = dlsym(b->dl, kernelName);
    if (!sym) return fail(ACL_ERROR_RT_INVALID_HANDLE, "kernel '%s' is not in binary '%s'", kernelName, b->path);
    function_t *f = calloc(1, sizeof *f);
    f->fn = (emu_kernel)sym;
    snprintf(f->name, sizeof f->name, "%s", kernelName);
    *funcHandle = f;
    return ACL_SUCCESS;
}

aclError aclrtBinaryUnLoad(aclrtBinHandle binHandle) {
    NEED_DEVICE();
    if (!binHandle) return fail(ACL_ERROR_RT_INVALID_HANDLE, "aclrtBinaryUnLoad: NULL handle");
    binary_t *b = binHandle;
    dlclose(b->dl);
    free(b);
    return ACL_SUCCESS;
}

/* Emulator-only: queues host operation `op(arg, …)` on `stream` (how the emulated HCCL collectives run in
 * stream order, as on hardware). A non-zero return poisons the stream with that code and message, which
 * the next synchronize reports. `op(arg, NULL, 0)` is called instead when the stream skips it (poisoned),
 * so it can release `arg`. */
aclError aclEmuEnqueueHostOp(aclrtStream stream, const char *name, emu_host_op op, void *arg) {
    NEED_DEVICE();
    if (!op) return fail(ACL_ERROR_INVALID_PARAM, "aclEmuEnqueueHostOp: NULL operation");
    aclError e = check_stream(stream);
    if (e) return e;
    task_t *t = calloc(1, sizeof *t);
    t->kind = 2; t->op = op; t->args = arg;
    snprintf(t->name, sizeof t->name, "%s", name ? name : "host operation");
    enqueue(stream, t);
    return ACL_SUCCESS;
}

/* argsData is device memory holding the packed arguments (as on hardware); the kernel reads it directly. */
aclError aclrtLaunchKernel(aclrtFuncHandle funcHandle, uint32_t numBlocks, const void *argsData, size_t argsSize, aclrtStream stream) {
    NEED_DEVICE();
    CHECK_FAULT("aclrtLaunchKernel");
    if (!funcHandle) return fail(ACL_ERROR_RT_INVALID_HANDLE, "aclrtLaunchKernel: NULL function handle");
    if (numBlocks == 0) return fail(ACL_ERROR_INVALID_PARAM, "aclrtLaunchKernel: numBlocks is 0");
    aclError e = check_stream(stream);
    if (e) return e;
    if (argsSize > 0) {
        pthread_mutex_lock(&mem_lock);
        int ok = find(argsData, argsSize) != NULL;
        pthread_mutex_unlock(&mem_lock);
        if (!ok) return fail(ACL_ERROR_RT_PARAM_INVALID, "aclrtLaunchKernel: the %zu B of arguments at %p are not device memory", argsSize, argsData);
    }
    function_t *f = funcHandle;
    task_t *t = calloc(1, sizeof *t);
    t->kind = 0; t->fn = f->fn; t->blocks = numBlocks; t->args = (void *)argsData;
    snprintf(t->name, sizeof t->name, "%s", f->name);
    enqueue(stream, t);
    return ACL_SUCCESS;
}
