/* Subset of <sys/mman.h> (Linux, x86_64 and aarch64) that dev.strata.nativebind.posix.sys_mman_h was
 * written from. Regenerate with: jextract --target-package dev.strata.nativebind.posix
 *   --header-class-name sys_mman_h --include-function mmap --include-function munmap
 *   --include-constant PROT_READ --include-constant PROT_WRITE --include-constant MAP_PRIVATE
 *   --include-constant MAP_ANONYMOUS --include-constant MAP_NORESERVE headers/sys_mman.h
 */
#include <stddef.h>
typedef long off_t;

#define PROT_READ      0x1
#define PROT_WRITE     0x2
#define MAP_SHARED     0x01
#define MAP_PRIVATE    0x02
#define MAP_ANONYMOUS  0x20
#define MAP_NORESERVE  0x4000

void *mmap(void *addr, size_t length, int prot, int flags, int fd, off_t offset);
int munmap(void *addr, size_t length);
