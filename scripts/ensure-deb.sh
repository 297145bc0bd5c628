#!/usr/bin/env bash
# Makes sure a command from a Debian package is installed:
#
#   scripts/ensure-deb.sh PACKAGE COMMAND
#
# Does nothing when COMMAND is on the PATH. Otherwise installs PACKAGE with apt-get when
# running as root (output in .local/logs/apt-PACKAGE.log), and else fails saying exactly
# what to install. The same pattern as scripts/stack.sh's redis-server.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
LOGS="$ROOT/.local/logs"

die() { printf 'ensure-deb: error: %s\n' "$*" >&2; exit 1; }

[[ $# -eq 2 ]] || die "usage: $0 PACKAGE COMMAND"
package=$1 command=$2

command -v "$command" >/dev/null && exit 0
if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null; then
  mkdir -p "$LOGS"
  log="$LOGS/apt-$package.log"
  printf 'ensure-deb: installing Debian'"'"'s %s (for %s)\n' "$package" "$command"
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$package"; } \
    >"$log" 2>&1 || die "apt-get install $package failed; read $log"
  command -v "$command" >/dev/null || die "$package is installed but $command is not on the PATH"
else
  die "$command is missing: run 'sudo apt-get install $package'"
fi
