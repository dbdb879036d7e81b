#!/bin/sh
# Container entrypoint: run the user data, then replace this shell with the main
# process (`strap run --then -- CMD ARGS` execs it once the boot has finished).
# With a mounted /userdata.yaml the boot runs against strap's embedded metadata
# service, on the container itself (`--on-this-machine`: `--local` refuses a root of `/`
# without it); otherwise against the instance's (or the task's) metadata service.
set -e
if [ -f /userdata.yaml ]; then
    exec strap run --local /userdata.yaml --on-this-machine --then -- "$@"
fi
exec strap run --then -- "$@"
