#!/usr/bin/env sh
# Builds Strata's ACL emulator and its test kernels into a fake Ascend install:
#   $1/lib64/libascendcl.so        (the ACL runtime subset Strata binds; see docs/hardware.md)
#   $1/kernels/test_kernels.so     (kernels in the emulator's host ABI, for the binding tests)
# Called by the Maven build (native-bindings, generate-test-resources) and by .ci/run. Needs gcc; without
# it, it says so and exits 0, and the tests that need the emulator report themselves skipped.
set -eu
out=${1:?usage: build.sh OUTPUT_DIR}
here=$(cd -- "$(dirname -- "$0")" && pwd -P)
cc=${CC:-gcc}
if ! command -v "$cc" > /dev/null 2>&1; then
  echo "strata emulator: '$cc' is not installed; the ACL emulator is not built and its tests will be skipped" >&2
  exit 0
fi
mkdir -p "$out/lib64" "$out/kernels"
build() { # target source...
  target=$1; shift
  if [ -f "$target" ]; then
    newer=$(for f in "$@"; do case $f in *.c) find "$f" -newer "$target";; esac; done | head -n 1)
    [ -z "$newer" ] && return 0
  fi
  "$cc" -O2 -Wall -Wextra -Werror -fPIC -shared -o "$target.tmp" "$@" -ldl -lpthread
  mv "$target.tmp" "$target"
}
build "$out/lib64/libascendcl.so" "$here/src/acl_emu.c"
# HCCL: the communicator lifecycle in libhcomm.so (as in CANN 8.5+/9.x), the collectives in libhccl.so.
build "$out/lib64/libhcomm.so" "$here/src/hccl_emu.c" -L"$out/lib64" -lascendcl -Wl,-rpath,'$ORIGIN' -lrt
build "$out/lib64/libhccl.so" "$here/src/hccl_allreduce_emu.c" -L"$out/lib64" -lhcomm -lascendcl -Wl,-rpath,'$ORIGIN'
build "$out/kernels/test_kernels.so" "$here/kernels/test_kernels.c"
