#!/bin/sh
# Pins a release into the plugin's launcher: its version and SHA256SUMS (the block between the
# "BEGIN/END PINNED SHA256SUMS" markers), so the launcher fetches exactly those binaries.
#   scripts/pin-release.sh VERSION SHA256SUMS [LAUNCHER]   (default: plugin/bin/claude-mem-launch)
# scripts/release.sh runs it; tests run it on a copy to pin a local mirror's binary.
set -eu
version=$1
sums=$2
launcher=${3:-$(dirname "$0")/../plugin/bin/claude-mem-launch}
case $version in *[!0-9.]* | '') echo "pin-release: $version is not a version" >&2; exit 1 ;; esac
grep -Eq '^[0-9a-f]{64}  claude-mem-' "$sums" || { echo "pin-release: $sums lists no claude-mem binary" >&2; exit 1; }
awk -v sums="$sums" -v version="$version" '
  /^VERSION=/ { print "VERSION=" version; next }
  /^# BEGIN PINNED SHA256SUMS/ {
    print; print "PINNED_SUMS='"'"'"
    while ((getline line < sums) > 0) print line
    print "'"'"'"; skip = 1; next
  }
  /^# END PINNED SHA256SUMS/ { skip = 0 }
  !skip { print }
' "$launcher" > "$launcher.tmp"
# Rewritten in place (cat, not mv): the launcher keeps its mode.
cat "$launcher.tmp" > "$launcher"
rm -f "$launcher.tmp"
