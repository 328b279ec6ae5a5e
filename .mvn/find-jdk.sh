# Sourced by ./mvnw, ./strata and .ci/run (POSIX sh). Finds a JDK >= 22 and exports JAVA_HOME.
# Order: $JAVA_HOME, then the usual install locations (newest release first), then `java` on PATH.
# Prints a clear message and returns 1 when none is found.

strata_jdk_release() {
  # $1 = candidate JDK home; prints its feature release (e.g. 25) or nothing.
  [ -x "$1/bin/java" ] && [ -x "$1/bin/javac" ] || return 0
  if [ -f "$1/release" ]; then
    v=$(sed -n 's/^JAVA_VERSION="\{0,1\}\([0-9][0-9]*\).*/\1/p' "$1/release" | head -n 1)
  else
    v=$("$1/bin/java" -version 2>&1 | sed -n 's/.*version "\([0-9][0-9]*\).*/\1/p' | head -n 1)
  fi
  printf '%s' "$v"
}

strata_find_jdk() {
  min=${STRATA_MIN_JDK:-22}
  if [ -n "${JAVA_HOME-}" ]; then
    r=$(strata_jdk_release "$JAVA_HOME")
    if [ -n "$r" ] && [ "$r" -ge "$min" ]; then export JAVA_HOME; return 0; fi
    echo "strata: JAVA_HOME=$JAVA_HOME is not a JDK >= $min${r:+ (it is $r)}; looking elsewhere" >&2
  fi
  best="" best_r=0
  case $- in *f*) strata_noglob=1; set +f ;; *) strata_noglob=0 ;; esac
  for d in /usr/lib/jvm/* /usr/java/* /opt/java/* /opt/jdk* /opt/*jdk* "$HOME"/.sdkman/candidates/java/* \
           "$HOME"/.jdks/* /Library/Java/JavaVirtualMachines/*/Contents/Home; do
    [ -d "$d" ] || continue
    r=$(strata_jdk_release "$d")
    if [ -n "$r" ] && [ "$r" -ge "$min" ] && [ "$r" -gt "$best_r" ]; then best=$d best_r=$r; fi
  done
  [ "$strata_noglob" = 1 ] && set -f
  if [ -z "$best" ] && command -v javac >/dev/null 2>&1; then
    d=$(dirname "$(dirname "$(readlink -f "$(command -v javac)")")")
    r=$(strata_jdk_release "$d")
    if [ -n "$r" ] && [ "$r" -ge "$min" ]; then best=$d; fi
  fi
  if [ -z "$best" ]; then
    cat >&2 <<MSG
strata: no JDK $min or newer was found (Strata uses the FFM API, final since Java 22; 25 is tested).
  Looked at: \$JAVA_HOME, /usr/lib/jvm/*, /usr/java/*, /opt/java/*, /opt/*jdk*, ~/.sdkman, ~/.jdks, and javac on PATH.
  Fix: install a JDK 25 (e.g. Temurin 25 from https://adoptium.net, or 'apt-get install temurin-25-jdk'
  from the Adoptium apt repository) and set JAVA_HOME to it.
MSG
    return 1
  fi
  JAVA_HOME=$best
  export JAVA_HOME
}

# Feature release of $JAVA_HOME (after strata_find_jdk), e.g. 25.
strata_java_release() {
  strata_jdk_release "$JAVA_HOME"
}
