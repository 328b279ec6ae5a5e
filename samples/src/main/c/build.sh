#!/usr/bin/env sh
# Builds the allreduce sample's kernels for the acl driver: $1/liballreduce_kernels.so, a host shared
# object in the ACL emulator's kernel ABI. Called by the Maven build (samples, generate-resources). Needs
# gcc; without it, it says so and exits 0 (`--driver acl` then names the missing file).
set -eu
out=${1:?usage: build.sh OUTPUT_DIR}
here=$(cd -- "$(dirname -- "$0")" && pwd -P)
cc=${CC:-gcc}
if ! command -v "$cc" > /dev/null 2>&1; then
  echo "strata samples: '$cc' is not installed; the acl kernels of the allreduce sample are not built" >&2
  exit 0
fi
mkdir -p "$out"
target=$out/liballreduce_kernels.so
if [ -f "$target" ] && [ -z "$(find "$here/allreduce_kernels.c" -newer "$target")" ]; then exit 0; fi
"$cc" -O2 -Wall -Wextra -Werror -fPIC -shared -o "$target.tmp" "$here/allreduce_kernels.c"
mv "$target.tmp" "$target"
