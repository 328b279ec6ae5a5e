/* Subset of <fcntl.h> (Linux, x86_64 and aarch64) that dev.strata.nativebind.posix.fcntl_h was written
 * from. Regenerate with: jextract --target-package dev.strata.nativebind.posix --header-class-name fcntl_h \
 *   --include-function open --include-function close --include-function posix_fallocate \
 *   --include-constant O_RDWR --include-constant O_CLOEXEC headers/fcntl.h
 */
typedef long off_t;

#define O_RDWR     02
#define O_CLOEXEC  02000000

int open(const char *pathname, int flags, ...);
int close(int fd);
/* Returns 0 or an error number (it does not set errno): ENOSPC when the file system has no room. */
int posix_fallocate(int fd, off_t offset, off_t len);
