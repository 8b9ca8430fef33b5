#!/usr/bin/env bash
# `npm test`'s pretest step: the suite drives real system programs (rsyslog, chromium, nginx, openssl), listed by
# the suites that need them in test/*/APT_PACKAGES. Installs what is missing when it can (root, or password-less
# sudo, with apt); otherwise stops at once and prints the exact command to run. Never silently skips: a suite
# whose program is missing would fail later with a less helpful message.
set -euo pipefail
cd "$(dirname "$0")/.."

wanted=$(cat test/*/APT_PACKAGES 2>/dev/null | sed 's/#.*//' | tr -s ' \n' ' ')
[ -n "${wanted// /}" ] || exit 0

if ! command -v dpkg-query >/dev/null 2>&1 || ! command -v apt-get >/dev/null 2>&1; then
  echo "pretest: this is not a Debian-like system (no dpkg/apt-get); install the equivalents of: $wanted" >&2
  echo "pretest: set PORTCULLIS_SKIP_SYSTEM_DEPS=1 to run the suite anyway once they are installed" >&2
  [ "${PORTCULLIS_SKIP_SYSTEM_DEPS:-}" = 1 ] && exit 0
  exit 1
fi

missing=()
for p in $wanted; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
[ "${#missing[@]}" -eq 0 ] && exit 0

cmd="apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends ${missing[*]}"
if [ "$(id -u)" -eq 0 ]; then
  runner=(bash -c)
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
  runner=(sudo bash -c)
else
  echo "pretest: the test suite needs these Debian packages: ${missing[*]}" >&2
  echo "pretest: run this once as root, then npm test again:" >&2
  echo "  sudo bash -c '$cmd'" >&2
  exit 1
fi
echo "pretest: installing Debian packages the suite needs: ${missing[*]}" >&2
"${runner[@]}" "$cmd"
