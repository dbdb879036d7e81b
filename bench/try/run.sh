#!/bin/sh
# strap try (the boot on a throwaway overlay of this machine, in its own namespaces, with
# the mock on 169.254.169.254) against strap run --local --root (the same boot against a
# folder, no isolation), on the same plain script. Needs root and hyperfine.
#
#   bench/try/run.sh                 # uses target/release/strap if built, else debug
#   STRAP=/path/to/strap bench/try/run.sh
#   RUNS=20 bench/try/run.sh
set -eu

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
target=${CARGO_TARGET_DIR:-$repo/target}
if [ -z "${STRAP:-}" ]; then
    if [ -x "$target/release/strap" ]; then STRAP=$target/release/strap; else STRAP=$target/debug/strap; fi
fi
runs=${RUNS:-10}
command -v hyperfine >/dev/null || { echo "hyperfine is not installed" >&2; exit 1; }
[ "$(id -u)" = 0 ] || { echo "strap try needs root here" >&2; exit 1; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cat > "$work/user-data" <<'SCRIPT'
#!/bin/sh
echo "hello from user data" > /var/tmp/strap-bench-hello
SCRIPT
root="$work/root"

echo "strap: $STRAP" >&2
hyperfine --warmup 1 --runs "$runs" -N \
    --export-markdown "$work/result.md" \
    --prepare "rm -rf $root" \
    -n "strap run --local --root" "$STRAP -q run --local $work/user-data --root $root" \
    -n "strap try" "$STRAP -q try $work/user-data" \
    -n "strap try --runner script (sandbox alone)" "$STRAP -q try --runner script $work/user-data"
cat "$work/result.md"
