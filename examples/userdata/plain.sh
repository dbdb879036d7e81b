#!/bin/sh
# The smallest user data: one script, run once per instance by scripts_user.
echo "hello from a plain script"
