/* Kernels of the allreduce sample for the acl driver, in the ACL emulator's kernel ABI (a host shared
 * object called once per block: void kernel(void *args, uint32_t blockIdx, uint32_t numBlocks), args in
 * device memory). Built by samples/src/main/c/build.sh into samples/target/kernels/. The sim driver runs
 * the same kernels in Kotlin (AllreduceSimKernels). */
#include <stdint.h>

/* args: { int32_t *data; uint64_t n; int32_t rank; } — data[i] = i + 100·rank, the blocks splitting the range. */
typedef struct { int32_t *data; uint64_t n; int32_t rank; } fill_args;

void fill_rank(void *args, uint32_t blockIdx, uint32_t numBlocks) {
    fill_args *a = args;
    uint64_t per = (a->n + numBlocks - 1) / numBlocks;
    uint64_t from = (uint64_t)blockIdx * per, to = from + per > a->n ? a->n : from + per;
    for (uint64_t i = from; i < to; i++) a->data[i] = (int32_t)(i + 100u * (uint32_t)a->rank);
}
