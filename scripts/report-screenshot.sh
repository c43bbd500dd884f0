#!/usr/bin/env bash
# Renders an HTML file (e.g. the report of `declmatch report`) to a PNG with headless Chromium.
#
#   scripts/report-screenshot.sh REPORT.html OUT.png [WIDTHxHEIGHT]     (default 1280x4000)
#
# The browser is $CHROMIUM when set, else the first of chromium, chromium-browser, google-chrome,
# google-chrome-stable on PATH (Debian/Ubuntu: apt-get install -y chromium). Exit status 3 when none
# is found. The page is opened from the file; it needs no network.
set -euo pipefail

if [[ $# -lt 2 || $# -gt 3 ]]; then
  echo "usage: $0 REPORT.html OUT.png [WIDTHxHEIGHT]" >&2
  exit 2
fi
in=$1
out=$2
size=${3:-1280x4000}
if [[ ! $size =~ ^([0-9]+)x([0-9]+)$ ]]; then
  echo "$0: the size must be WIDTHxHEIGHT, e.g. 1280x4000, not $size" >&2
  exit 2
fi
width=${BASH_REMATCH[1]}
height=${BASH_REMATCH[2]}
if [[ ! -f $in ]]; then
  echo "$0: no such file: $in" >&2
  exit 2
fi

browser=${CHROMIUM:-}
if [[ -z $browser ]]; then
  for b in chromium chromium-browser google-chrome google-chrome-stable; do
    if command -v "$b" >/dev/null 2>&1; then
      browser=$(command -v "$b")
      break
    fi
  done
fi
if [[ -z $browser ]]; then
  echo "$0: no Chromium found (install it: apt-get install -y chromium, or set CHROMIUM=/path/to/chrome)" >&2
  exit 3
fi

in_abs=$(cd "$(dirname "$in")" && pwd)/$(basename "$in")
mkdir -p "$(dirname "$out")"
out_abs=$(cd "$(dirname "$out")" && pwd)/$(basename "$out")
profile=$(mktemp -d)
log=$(mktemp)
trap 'rm -rf "$profile" "$log"' EXIT
rm -f "$out_abs"

# a private profile so that parallel runs do not share one; --no-sandbox for root in containers
if ! "$browser" --headless --no-sandbox --disable-gpu --hide-scrollbars --no-first-run --disable-extensions \
  --user-data-dir="$profile" --window-size="$width,$height" --screenshot="$out_abs" "file://$in_abs" >"$log" 2>&1; then
  cat "$log" >&2
  echo "$0: $browser failed" >&2
  exit 1
fi
if [[ ! -s $out_abs ]]; then
  cat "$log" >&2
  echo "$0: $browser wrote no screenshot" >&2
  exit 1
fi
echo "$out_abs"
