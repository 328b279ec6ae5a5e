/*
 * Strata's emulator of the HCCL subset Strata binds (docs/hardware.md; reference §10.8): communicator
 * lifecycle (libhcomm.so in CANN 8.5+/9.x) and HcclAllReduce (libhccl.so, see hccl_allreduce_emu.c).
 * A communicator is a POSIX shared-memory segment named by the root info, so ranks may be threads of
 * one process or separate processes. Every wait is bounded (HCCL_CONNECT_TIMEOUT s for bring-up,
 * default 120; HCCL_EMU_EXEC_TIMEOUT_MS for collectives, default 120000) and a rank that times out
 * breaks the communicator, so its peers fail at once; a waiting rank also notices a peer process that
 * is gone. HcclBarrier runs synchronously on the calling thread (as observed on CANN 9); HcclAllReduce
 * is queued on the caller's stream (hccl_allreduce_emu.c). Test knobs: HCCL_EMU_FAULTS /
 * hcclEmuInjectFault make chosen calls of chosen ranks fail with chosen codes.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <pthread.h>
#include <errno.h>
#include <signal.h>
#include <fcntl.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

typedef int HcclResult;
typedef void *HcclComm;
typedef void *aclrtStream;
#define HCCL_ROOT_INFO_BYTES 4108
typedef struct { char internal[HCCL_ROOT_INFO_BYTES]; } HcclRootInfo;

enum { HCCL_SUCCESS = 0, HCCL_E_PARA = 1, HCCL_E_PTR = 2, HCCL_E_MEMORY = 3, HCCL_E_INTERNAL = 4,
       HCCL_E_NOT_SUPPORT = 5, HCCL_E_TIMEOUT = 9, HCCL_E_RUNTIME = 15, HCCL_E_REMOTE = 21 };

#define MAGIC 0x48434345u /* "HCCE" */
#define MAX_RANKS 64
#define SLOT_BYTES (256 * 1024)

extern int aclrtGetDevice(int32_t *deviceId); /* libascendcl.so: a device must be bound */

typedef struct {
    uint32_t magic;
    uint32_t nranks;          /* set by the first rank to join */
    uint32_t joined;          /* ranks that joined */
    uint32_t destroyed;       /* ranks that destroyed their communicator */
    uint32_t arrived;         /* barrier arrivals */
    uint32_t generation;      /* barrier generation */
    uint32_t broken;          /* a rank timed out or failed: every wait fails */
    uint8_t rank_joined[MAX_RANKS];
    int32_t pid[MAX_RANKS];   /* each rank's process: a wait notices a peer process that is gone (as HCCL notices a closed link) */
} header_t;

#define HEADER_BYTES 4096
#define SEGMENT_BYTES (HEADER_BYTES + (size_t)MAX_RANKS * SLOT_BYTES)

/* pending: collectives queued or running on a stream; destroy waits for them (bounded) before unmapping. */
struct comm { header_t *h; char *slots; uint32_t nranks, rank; char name[64]; uint32_t pending; };

static const char *const errors[] = {
    "success", "parameter error", "empty pointer", "memory error", "internal error", "not supported",
    "not found", "resource unavailable", "system call error", "timeout", "open file failure",
    "tcp connect failure", "roce connect failure", "tcp transfer failure", "roce transfer failure",
    "runtime error", "driver error", "profiling error", "cce error", "network error", "try again",
    "error cqe", "suspending", "op retry failed", "out of memory",
};

const char *HcclGetErrorString(HcclResult code) {
    if (code >= 0 && code < (int)(sizeof errors / sizeof *errors)) return errors[code];
    return "unknown HCCL error";
}

static long long now_ms(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (long long)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

static long long env_ms(const char *name, long long scale, long long dflt) {
    const char *v = getenv(name);
    return v && atoll(v) > 0 ? atoll(v) * scale : dflt;
}

/* Waits until *word reaches `want` (or the comm breaks), bounded; returns 0, HCCL_E_TIMEOUT or HCCL_E_REMOTE. */
/* Whether a rank's process is gone (then the communicator breaks, as HCCL breaks on a closed link). */
static int peer_gone(header_t *h) {
    uint32_t n = __atomic_load_n(&h->nranks, __ATOMIC_ACQUIRE);
    for (uint32_t r = 0; r < n && r < MAX_RANKS; r++) {
        int32_t pid = __atomic_load_n(&h->pid[r], __ATOMIC_ACQUIRE);
        if (pid > 0 && kill(pid, 0) != 0 && errno == ESRCH) return 1;
    }
    return 0;
}

static HcclResult wait_for(header_t *h, uint32_t *word, uint32_t want, long long timeout_ms) {
    long long deadline = now_ms() + timeout_ms, next_check = now_ms() + 100;
    int spins = 0;
    while (__atomic_load_n(word, __ATOMIC_ACQUIRE) < want) {
        if (__atomic_load_n(&h->broken, __ATOMIC_ACQUIRE)) return HCCL_E_REMOTE;
        if (now_ms() >= next_check) {
            next_check = now_ms() + 100;
            if (peer_gone(h)) {
                __atomic_store_n(&h->broken, 1, __ATOMIC_RELEASE);
                return HCCL_E_REMOTE;
            }
        }
        if (now_ms() > deadline) {
            __atomic_store_n(&h->broken, 1, __ATOMIC_RELEASE);
            return HCCL_E_TIMEOUT;
        }
        if (++spins < 1000) sched_yield(); else { struct timespec ts = {0, 50000}; nanosleep(&ts, NULL); }
    }
    return HCCL_SUCCESS;
}

/* Removes the rendezvous segments of root processes that are gone (a root killed before its ranks
 * destroyed their communicators): names carry the creating pid, `hccl-emu-<pid>-<hex>`. */
static void sweep_dead_roots(void) {
    DIR *d = opendir("/dev/shm");
    if (!d) return;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        long pid;
        if (sscanf(e->d_name, "hccl-emu-%ld-", &pid) != 1 || pid <= 0) continue;
        if (kill((pid_t)pid, 0) == 0 || errno != ESRCH) continue;
        char path[300];
        snprintf(path, sizeof path, "/%s", e->d_name);
        shm_unlink(path);
    }
    closedir(d);
}

HcclResult HcclGetRootInfo(HcclRootInfo *rootInfo) {
    if (!rootInfo) return HCCL_E_PTR;
    int32_t dev;
    if (aclrtGetDevice(&dev) != 0) return HCCL_E_RUNTIME; /* a device must be set on this thread */
    sweep_dead_roots();
    unsigned char id[16];
    FILE *r = fopen("/dev/urandom", "rb");
    if (!r || fread(id, 1, sizeof id, r) != sizeof id) { if (r) fclose(r); return HCCL_E_INTERNAL; }
    fclose(r);
    char name[64];
    snprintf(name, sizeof name, "/hccl-emu-%ld-", (long)getpid());
    for (int i = 0; i < 12; i++) sprintf(name + strlen(name), "%02x", id[i]);
    int fd = shm_open(name, O_CREAT | O_EXCL | O_RDWR, 0600);
    if (fd < 0) return HCCL_E_INTERNAL;
    if (ftruncate(fd, (off_t)SEGMENT_BYTES) != 0) { close(fd); shm_unlink(name); return HCCL_E_MEMORY; }
    header_t *h = mmap(NULL, HEADER_BYTES, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    close(fd);
    if (h == MAP_FAILED) { shm_unlink(name); return HCCL_E_MEMORY; }
    __atomic_store_n(&h->magic, MAGIC, __ATOMIC_RELEASE);
    munmap(h, HEADER_BYTES);
    memset(rootInfo, 0, sizeof *rootInfo);
    uint32_t magic = MAGIC;
    memcpy(rootInfo->internal, &magic, 4);
    snprintf(rootInfo->internal + 4, 60, "%s", name);
    return HCCL_SUCCESS;
}

/* ---- fault injection (test infrastructure, not HCCL): the next call of `fn` by `rank` (-1: any rank)
 * fails with `code`. From HCCL_EMU_FAULTS="fn[:rank]=code,…" (read on first use) or hcclEmuInjectFault(). */
#define MAX_HFAULTS 16
static struct { char fn[64]; int rank, code; } hfaults[MAX_HFAULTS];
static int nhfaults;
static pthread_mutex_t hfault_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t hfault_env_once = PTHREAD_ONCE_INIT;

int hcclEmuInjectFault(const char *fn, int rank, int code) {
    if (!fn) return HCCL_E_PTR;
    pthread_mutex_lock(&hfault_lock);
    int rc = HCCL_SUCCESS;
    if (nhfaults < MAX_HFAULTS) {
        snprintf(hfaults[nhfaults].fn, sizeof hfaults[nhfaults].fn, "%s", fn);
        hfaults[nhfaults].rank = rank;
        hfaults[nhfaults].code = code;
        nhfaults++;
    } else rc = HCCL_E_MEMORY;
    pthread_mutex_unlock(&hfault_lock);
    return rc;
}

static void parse_hfaults(void) {
    const char *spec = getenv("HCCL_EMU_FAULTS");
    if (!spec) return;
    char buf[1024];
    snprintf(buf, sizeof buf, "%s", spec);
    char *save = NULL;
    for (char *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(tok, '=');
        if (!eq) continue;
        *eq = 0;
        int rank = -1;
        char *colon = strchr(tok, ':');
        if (colon) { *colon = 0; rank = atoi(colon + 1); }
        hcclEmuInjectFault(tok, rank, atoi(eq + 1));
    }
}

/* The injected code for this call of `fn` by `rank` (consumed), or 0. */
static int hinjected(const char *fn, int rank) {
    pthread_once(&hfault_env_once, parse_hfaults);
    pthread_mutex_lock(&hfault_lock);
    int code = 0;
    for (int i = 0; i < nhfaults; i++) {
        if (strcmp(hfaults[i].fn, fn) == 0 && (hfaults[i].rank < 0 || hfaults[i].rank == rank)) {
            code = hfaults[i].code;
            hfaults[i] = hfaults[--nhfaults];
            break;
        }
    }
    pthread_mutex_unlock(&hfault_lock);
    return code;
}

HcclResult HcclCommInitRootInfo(uint32_t nRanks, const HcclRootInfo *rootInfo, uint32_t rank, HcclComm *comm) {
    if (!rootInfo || !comm) return HCCL_E_PTR;
    if (nRanks == 0 || nRanks > MAX_RANKS || rank >= nRanks) return HCCL_E_PARA;
    int injected = hinjected("HcclCommInitRootInfo", (int)rank);
    if (injected) return injected; /* this rank never joins: its peers wait out HCCL_CONNECT_TIMEOUT, as on hardware */
    uint32_t magic;
    memcpy(&magic, rootInfo->internal, 4);
    if (magic != MAGIC) return HCCL_E_PARA;
    char name[64];
    snprintf(name, sizeof name, "%s", rootInfo->internal + 4);
    int fd = shm_open(name, O_RDWR, 0600);
    if (fd < 0) return HCCL_E_PARA; /* no such rendezvous (destroyed, or root info from another host) */
    void *m = mmap(NULL, SEGMENT_BYTES, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    close(fd);
    if (m == MAP_FAILED) return HCCL_E_MEMORY;
    header_t *h = m;
    uint32_t expected = 0;
    if (!__atomic_compare_exchange_n(&h->nranks, &expected, nRanks, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE) && expected != nRanks) {
        munmap(m, SEGMENT_BYTES);
        return HCCL_E_PARA; /* nRanks differs between ranks */
    }
    if (__atomic_exchange_n(&h->rank_joined[rank], 1, __ATOMIC_ACQ_REL)) { munmap(m, SEGMENT_BYTES); return HCCL_E_PARA; } /* rank taken */
    __atomic_store_n(&h->pid[rank], (int32_t)getpid(), __ATOMIC_RELEASE);
    __atomic_add_fetch(&h->joined, 1, __ATOMIC_ACQ_REL);
    HcclResult rc = wait_for(h, &h->joined, nRanks, env_ms("HCCL_CONNECT_TIMEOUT", 1000, 120000));
    if (rc) { /* the bring-up failed for everyone: wake the others and remove the rendezvous (late ranks get HCCL_E_PARA) */
        __atomic_store_n(&h->broken, 1, __ATOMIC_RELEASE);
        shm_unlink(name);
        munmap(m, SEGMENT_BYTES);
        return rc;
    }
    struct comm *c = calloc(1, sizeof *c);
    c->h = h; c->slots = (char *)m + HEADER_BYTES; c->nranks = nRanks; c->rank = rank;
    snprintf(c->name, sizeof c->name, "%s", name);
    *comm = c;
    return HCCL_SUCCESS;
}

/* A sense-reversing barrier over the segment's counters. */
HcclResult hcclEmuBarrier(struct comm *c) {
    header_t *h = c->h;
    uint32_t gen = __atomic_load_n(&h->generation, __ATOMIC_ACQUIRE);
    if (__atomic_add_fetch(&h->arrived, 1, __ATOMIC_ACQ_REL) == c->nranks) {
        __atomic_store_n(&h->arrived, 0, __ATOMIC_RELAXED);
        __atomic_add_fetch(&h->generation, 1, __ATOMIC_ACQ_REL);
        return HCCL_SUCCESS;
    }
    return wait_for(h, &h->generation, gen + 1, env_ms("HCCL_EMU_EXEC_TIMEOUT_MS", 1, 120000));
}

HcclResult HcclBarrier(HcclComm comm, aclrtStream stream) {
    (void)stream;
    if (!comm) return HCCL_E_PTR;
    struct comm *c = comm;
    __atomic_add_fetch(&c->pending, 1, __ATOMIC_ACQ_REL); /* a destroy meanwhile breaks the barrier and waits for it */
    HcclResult rc = hcclEmuBarrier(c);
    __atomic_sub_fetch(&c->pending, 1, __ATOMIC_ACQ_REL);
    return rc;
}

HcclResult HcclGetRankSize(HcclComm comm, uint32_t *rankSize) {
    if (!comm || !rankSize) return HCCL_E_PTR;
    *rankSize = ((struct comm *)comm)->nranks;
    return HCCL_SUCCESS;
}

HcclResult HcclGetRankId(HcclComm comm, uint32_t *rank) {
    if (!comm || !rank) return HCCL_E_PTR;
    *rank = ((struct comm *)comm)->rank;
    return HCCL_SUCCESS;
}

HcclResult HcclGetCommAsyncError(HcclComm comm, HcclResult *asyncError) {
    if (!comm || !asyncError) return HCCL_E_PTR;
    *asyncError = __atomic_load_n(&((struct comm *)comm)->h->broken, __ATOMIC_ACQUIRE) ? HCCL_E_REMOTE : HCCL_SUCCESS;
    return HCCL_SUCCESS;
}

HcclResult HcclCommDestroy(HcclComm comm) {
    if (!comm) return HCCL_E_PTR;
    struct comm *c = comm;
    if (__atomic_load_n(&c->pending, __ATOMIC_ACQUIRE)) {
        /* Destroyed with collectives in flight (a peer died, a sync timed out): break the communicator so
         * they fail at once, and wait for them (bounded) before unmapping what they use. */
        __atomic_store_n(&c->h->broken, 1, __ATOMIC_RELEASE);
        long long deadline = now_ms() + 5000;
        while (__atomic_load_n(&c->pending, __ATOMIC_ACQUIRE) && now_ms() < deadline) { struct timespec ts = {0, 1000000}; nanosleep(&ts, NULL); }
        if (__atomic_load_n(&c->pending, __ATOMIC_ACQUIRE)) return HCCL_E_INTERNAL; /* still running: leak it rather than pull memory from under it */
    }
    uint32_t gone = __atomic_add_fetch(&c->h->destroyed, 1, __ATOMIC_ACQ_REL);
    if (gone == c->nranks) shm_unlink(c->name); /* the last rank removes the rendezvous */
    munmap(c->h, SEGMENT_BYTES);
    free(c);
    return HCCL_SUCCESS;
}

/* Exposed to libhccl.so's HcclAllReduce: the slot area and geometry of a communicator. */
/* A collective was queued on a stream (+1) or finished (-1). */
void hcclEmuPending(struct comm *c, int delta) {
    __atomic_add_fetch(&c->pending, (uint32_t)delta, __ATOMIC_ACQ_REL);
}

char *hcclEmuSlots(struct comm *c, uint32_t *nranks, uint32_t *rank, size_t *slotBytes) {
    *nranks = c->nranks; *rank = c->rank; *slotBytes = SLOT_BYTES;
    return c->slots;
}
