/* Test kernels for the ACL emulator: host code in the emulator's kernel ABI,
 * void kernel(void *args, uint32_t blockIdx, uint32_t numBlocks); args is device memory. */
#include <stdint.h>
#include <unistd.h>

/* args: { int32_t *data; uint64_t n; int32_t add; } — adds `add` to data[i], the blocks splitting the range. */
typedef struct { int32_t *data; uint64_t n; int32_t add; } add_args;

void add_i32(void *args, uint32_t blockIdx, uint32_t numBlocks) {
    add_args *a = args;
    uint64_t per = (a->n + numBlocks - 1) / numBlocks;
    uint64_t from = (uint64_t)blockIdx * per, to = from + per > a->n ? a->n : from + per;
    for (uint64_t i = from; i < to; i++) a->data[i] += a->add;
}

/* args: { uint64_t millis; } — a slow kernel (to exercise synchronize timeouts). */
void sleep_ms(void *args, uint32_t blockIdx, uint32_t numBlocks) {
    (void)blockIdx; (void)numBlocks;
    usleep((useconds_t)(*(uint64_t *)args * 1000));
}
