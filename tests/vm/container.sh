#!/usr/bin/env bash
# The container suite: strap as the entrypoint of a Debian 12 container under podman, as
# examples/container/ ships it (entrypoint.sh unchanged: `strap run --local
# /userdata.yaml --on-this-machine --then -- CMD`). The container has no network (the
# user data is mounted; the boot runs against strap's embedded metadata service).
#
#   tests/vm/container.sh STRAP_BINARY
#
# Checks: the boot runs before the main process, which is PID 1 and gets SIGTERM from
# `podman stop`; a restart of the same container reruns per-boot work only; a new
# container from the same image reruns per-instance work. Ends with `N passed, M failed`;
# exits 77 where podman cannot start containers at all.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
strap_bin=$(realpath "$1")
passed=0 failed=0
check() {
    local what=$1; shift
    if "$@"; then passed=$((passed + 1)); echo "ok - $what"
    else failed=$((failed + 1)); echo "not ok - $what"; fi
}
eq() { [ "$1" = "$2" ] || { echo "    expected [$2], got [$1]" >&2; return 1; }; }
has() { case "$1" in *"$2"*) return 0 ;; esac; echo "    [$1] does not contain [$2]" >&2; return 1; }

cache=$("$here/image.sh" container) || { echo "cannot build the container image"; exit 1; }
tag=$(basename "$cache")
base="localhost/strap-test-base:$tag"
# runc where it is installed (crun refuses hybrid cgroup hierarchies), and limits the
# container may set (some sandboxes refuse podman's defaults).
podman=(podman)
command -v runc >/dev/null && podman+=(--runtime runc)
limits=(--ulimit nofile=4096:4096 --ulimit nproc=4096:4096)
podman() { command "${podman[@]}" "$@"; }
podman image exists "$base" || podman import -q "$cache/container.tar" "$base" >/dev/null

# Some sandboxes let podman build images but refuse to start containers (crun's
# setrlimit is denied): that is this machine's limit, not strap's; exit 77 says "skip".
if ! probe=$(podman run --rm "${limits[@]}" --network none "$base" true 2>&1); then
    echo "podman cannot start a container on this machine: $probe"
    exit 77
fi

work=$(mktemp -d /var/tmp/strap-ct.XXXXXX)
name=strap-ct-$$
app=localhost/strap-test-app:$$
cleanup() {
    podman rm -f -t 0 "$name" "$name-2" >/dev/null 2>&1
    podman rmi -f "$app" >/dev/null 2>&1
    rm -rf "$work"
}
trap cleanup EXIT
cp "$strap_bin" "$work/strap"
cp "$top/examples/container/entrypoint.sh" "$work/entrypoint.sh"
cat > "$work/Containerfile" <<CF
FROM $base
COPY strap /usr/local/bin/strap
COPY entrypoint.sh /usr/local/bin/entrypoint.sh
ENTRYPOINT ["/usr/local/bin/entrypoint.sh"]
CMD ["sleep", "infinity"]
CF
podman build -q -t "$app" "$work" >/dev/null || { echo "podman build failed"; exit 1; }

run() { # run NAME
    podman run -d --name "$1" "${limits[@]}" --network none \
        -v "$here/container/userdata.yaml:/userdata.yaml:ro,Z" \
        -v "$here/container/main.sh:/main.sh:ro,Z" "$app" /main.sh >/dev/null
}
wait_log() { # wait_log NAME PATTERN COUNT
    local i
    for i in $(seq 300); do
        [ "$(podman logs "$1" 2>&1 | grep -c -- "$2")" -ge "$3" ] && return 0
        sleep 0.2
    done
    echo "    no $3 × [$2] in the logs of $1:" >&2; podman logs "$1" >&2; return 1
}
counts() { podman logs "$1" 2>&1 | grep '^main: bootcmd=' | tail -1; }

run "$name"
check "first start: the main process runs after the boot" wait_log "$name" '^main: bootcmd=' 1
check "first start: the main process is PID 1" has "$(podman logs "$name" 2>&1)" "main: pid=1"
check "first start: bootcmd and runcmd ran once" eq "$(counts "$name")" "main: bootcmd=1 runcmd=1"
check "first start: the boot ended done" has "$(podman logs "$name" 2>&1)" "strap: boot done"
podman stop -t 20 "$name" >/dev/null
check "stop: the main process got SIGTERM" has "$(podman logs "$name" 2>&1)" "main: got TERM"
check "stop: and exited 0" eq "$(podman inspect -f '{{.State.ExitCode}}' "$name")" "0"
podman start "$name" >/dev/null
check "restart: the main process runs again" wait_log "$name" '^main: bootcmd=' 2
check "restart: per-boot work reran, per-instance work did not" eq "$(counts "$name")" "main: bootcmd=2 runcmd=1"
podman rm -f -t 0 "$name" >/dev/null
run "$name-2"
check "new container: per-instance work reran" wait_log "$name-2" '^main: bootcmd=' 1
check "new container: bootcmd and runcmd ran once" eq "$(counts "$name-2")" "main: bootcmd=1 runcmd=1"
echo "container: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
