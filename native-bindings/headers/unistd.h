/* Subset of <unistd.h> that dev.strata.nativebind.posix.unistd_h was written from.
 * Regenerate with: jextract --target-package dev.strata.nativebind.posix --header-class-name unistd_h \
 *   --include-function getpid --include-function getppid headers/unistd.h
 */
typedef int pid_t;

pid_t getpid(void);
pid_t getppid(void);
