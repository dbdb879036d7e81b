"""Writes a MIME user-data message of five parts, about 16 KiB (EC2's limit), for the
user-data benchmark: cloud-config, a script, a per-boot script, a boothook and a gzip
part, as `strap userdata make-mime` and cloud-init users write them."""
import base64, gzip, sys

BOUNDARY = "===============0000000000000000001=="


def part(ctype, filename, payload):
    body = base64.encodebytes(payload).decode()
    return ('--%s\nContent-Type: %s; charset="utf-8"\nMIME-Version: 1.0\n'
            'Content-Transfer-Encoding: base64\n'
            'Content-Disposition: attachment; filename="%s"\n\n%s\n') % (BOUNDARY, ctype, filename, body)


def filler(prefix, n):
    return "".join("%s %04d: the quick brown fox jumps over the lazy dog\n" % (prefix, i) for i in range(n))


cc = "#cloud-config\npackages: [htop, jq]\nruncmd:\n" + "".join("  - echo step %d\n" % i for i in range(60))
script = "#!/bin/sh\n" + filler("# script", 62)
boot = "#!/bin/sh\n" + filler("# per-boot", 62)
hook = "#cloud-boothook\n" + filler("# hook", 36)
zipped = gzip.compress(("#cloud-config\nwrite_files:\n" + "".join(
    "  - path: /etc/f%d\n    content: %s\n" % (i, "x" * 40) for i in range(150))).encode(), mtime=0)

msg = 'Content-Type: multipart/mixed; boundary="%s"\nMIME-Version: 1.0\n\n' % BOUNDARY
msg += part("text/cloud-config", "config.yaml", cc.encode())
msg += part("text/x-shellscript", "setup.sh", script.encode())
msg += part("text/x-shellscript-per-boot", "boot.sh", boot.encode())
msg += part("text/cloud-boothook", "hook.sh", hook.encode())
msg += ('--%s\nContent-Type: application/x-gzip\nContent-Transfer-Encoding: base64\n'
        'Content-Disposition: attachment; filename="files.yaml.gz"\n\n%s\n') % (
            BOUNDARY, base64.encodebytes(zipped).decode())
msg += "--%s--\n" % BOUNDARY
sys.stdout.write(msg)
