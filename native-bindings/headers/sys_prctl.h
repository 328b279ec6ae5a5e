/* Subset of <sys/prctl.h> that dev.strata.nativebind.posix.sys_prctl_h was written from.
 * Regenerate with: jextract --target-package dev.strata.nativebind.posix --header-class-name sys_prctl_h \
 *   --include-function prctl --include-constant PR_SET_PDEATHSIG --include-constant PR_GET_PDEATHSIG headers/sys_prctl.h
 */
#define PR_SET_PDEATHSIG 1
#define PR_GET_PDEATHSIG 2

int prctl(int option, ...);
