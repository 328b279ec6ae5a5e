/* Subset of <signal.h> that dev.strata.nativebind.posix.signal_h was written from.
 * Regenerate with: jextract --target-package dev.strata.nativebind.posix --header-class-name signal_h \
 *   --include-function kill --include-constant SIGKILL --include-constant SIGTERM headers/signal.h
 */
typedef int pid_t;

#define SIGKILL 9
#define SIGTERM 15

int kill(pid_t pid, int sig);
