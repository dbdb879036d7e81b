#!/bin/sh
# Print the facts the VM suite checks on the serial console (see strap-vm-report.service).
i=0
limit=$(cat /etc/strap-vm/report-wait 2>/dev/null || echo 150)
while [ $i -lt "$limit" ] && ! grep -q '^rc=' /run/strap-vm-wait 2>/dev/null; do
    sleep 1; i=$((i + 1))
done
say() { echo "STRAPVM $1=$2" | tee -a /run/strap-vm-report; }
say strap-status "$(strap status 2>/dev/null | sed 's/^status: //')"
say strap-extended "$(strap status --json 2>/dev/null | sed -n 's/.*"extended_status": "\(.*\)".*/\1/p')"
say unit-strap "$(systemctl is-active strap.service)"
say unit-final "$(systemctl is-active strap-final.service)"
say multi-user "$(systemctl is-active multi-user.target)"
say ssh "$(systemctl is-active ssh.service)"
say probe "$(cat /run/strap-vm-probe 2>/dev/null)"
say wait "$(tr '\n' ' ' < /run/strap-vm-wait 2>/dev/null)"
say hostname "$(hostname)"
say failed-units "$(systemctl --failed --plain --no-legend | awk '{print $1}' | tr '\n' ' ')"
say boot-id "$(cat /proc/sys/kernel/random/boot_id)"
say report-done yes
