#!/bin/sh
# Time `make demo` from a fresh clone (pip cache warm) to the demo's first HTTP 200.
# Usage: tools/demo_time.sh [REPO] [PORT]   (REPO: a path or URL to clone, default this one)
set -eu
repo=${1:-$(git rev-parse --show-toplevel)}
port=${2:-5399}
branch=$(git -C "$repo" rev-parse --abbrev-ref HEAD 2>/dev/null || echo HEAD)
work=$(mktemp -d)
git clone --quiet --branch "$branch" "$repo" "$work/clone"
cd "$work/clone"
start=$(date +%s.%N)
PORT=$port make demo >"$work/demo.log" 2>&1 &
make_pid=$!
status=000
while [ "$status" != 200 ] && kill -0 "$make_pid" 2>/dev/null; do
    status=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/" || true)
    [ "$status" = 200 ] || sleep 0.1
done
end=$(date +%s.%N)
# The server is make's child: stop it, then make.
pkill -P "$make_pid" 2>/dev/null || true
kill "$make_pid" 2>/dev/null || true
wait "$make_pid" 2>/dev/null || true
if [ "$status" = 200 ]; then
    echo "make demo: first 200 after $(echo "$end - $start" | bc) s"
else
    echo "make demo failed; log:"; cat "$work/demo.log"; exit 1
fi
rm -rf "$work"
