#!/bin/sh
# The main process of the container suite: it must run as PID 1 after the boot and get
# the container's signals.
trap 'echo "main: got TERM"; exit 0' TERM
echo "main: pid=$$"
echo "main: bootcmd=$(wc -l < /var/lib/strap-ct-bootcmd.log) runcmd=$(wc -l < /var/lib/strap-ct-runcmd.log)"
while :; do sleep 0.2; done
