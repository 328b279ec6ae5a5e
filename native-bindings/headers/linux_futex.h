/* Subset of <linux/futex.h> and <sys/syscall.h> that dev.strata.nativebind.posix.linux_futex_h was written
 * from. futex(2) has no libc wrapper: it is reached through syscall(SYS_futex, ...).
 * Regenerate with: jextract --target-package dev.strata.nativebind.posix --header-class-name linux_futex_h \
 *   --include-constant FUTEX_WAIT --include-constant FUTEX_WAKE headers/linux_futex.h
 */
#define FUTEX_WAIT 0
#define FUTEX_WAKE 1
/* Shared futexes (between processes): the FUTEX_PRIVATE_FLAG (128) is deliberately not set. */

struct timespec {
    long tv_sec;
    long tv_nsec;
};

/* SYS_futex: 202 on x86_64, 98 on aarch64. Bound as syscall(SYS_futex, int *uaddr, int futex_op, int val,
 * const struct timespec *timeout, int *uaddr2, int val3). */
long syscall(long number, ...);
