"""What cloud-init's cc_disk_setup would run, for strap's disk_setup tests.

Reads a JSON list of cases on stdin and prints a JSON list of answers. The module is
imported from the cloud-init on PYTHONPATH (22.4 or 25) and called with its commands
mocked: the machine is the case's `devices` (what lsblk and blkid report), nothing runs.

Cases:
  {"kind": "mbr_layout" | "gpt_layout", "size": SECTORS, "layout": LAYOUT}
      -> {"value": the function's result} or {"error": message}
  {"kind": "mkpart", "device": DEV, "definition": {...}, "devices": [...], "bytes": N}
  {"kind": "mkfs", "cfg": {...}, "devices": [...]}
      -> {"commands": [[argv..., {"input": text}?], ...]} (the commands that change the
         disk: probes, settles and rereads left out) or {"error": message}

A device is {"name": "xvdb", "type": "disk" | "part", "parent": "xvdb" | null,
"fstype": "", "label": "", "mbr_id": "83"} (`sfdisk -l` and `sgdisk -p` list the
partitions with that type).
"""

import json
import os
import sys
from pathlib import Path
from unittest import mock

from cloudinit import subp, util
from cloudinit.config import cc_disk_setup as cds

PROBES = {"lsblk", "blkid", "udevadm", "partprobe"}


def answer(case):
    devices = {d["name"]: d for d in case.get("devices", [])}
    commands = []

    def lsblk_lines(name, nodeps):
        rows = [devices[name]]
        if not nodeps:
            rows += [d for d in devices.values() if d.get("parent") == name]
        return "".join(
            'NAME="%s" TYPE="%s" FSTYPE="%s" LABEL="%s"\n'
            % (d["name"], d["type"], d.get("fstype", ""), d.get("label", ""))
            for d in rows
        )

    def fake_subp(args, data=None, rcs=None, shell=False, **_kw):
        argv = [args] if isinstance(args, str) else list(args)
        prog = os.path.basename(str(argv[0])) if argv else ""
        name = os.path.basename(str(argv[-1]).replace("--nodeps", "")) if argv else ""
        if prog == "lsblk":
            dev = [a for a in argv if str(a).startswith("/dev/")][0]
            return lsblk_lines(os.path.basename(dev), "--nodeps" in argv), ""
        if prog == "blkid":
            d = devices.get(name)
            if not d or not d.get("fstype"):
                return "", ""
            label = ' LABEL="%s"' % d["label"] if d.get("label") else ""
            return '/dev/%s:%s TYPE="%s"\n' % (name, label, d["fstype"]), ""
        if prog == "blockdev" and "--getsize64" in argv:
            return str(case.get("bytes", 0)), ""
        if prog == "blockdev" and "--getss" in argv:
            return "512", ""
        children = [d for d in devices.values() if d.get("parent") == name]
        if prog == "sfdisk" and "-l" in argv:
            return "".join(
                "/dev/%s 2048 4095 2048 1M %s Linux\n" % (d["name"], d.get("mbr_id", "83"))
                for d in children
            ), ""
        if prog == "sgdisk" and "-p" in argv:
            head = "Number  Start (sector)    End (sector)  Size       Code  Name\n"
            return head + "".join(
                "   %d 2048 4095 1.0 MiB %s00 Linux\n" % (i + 1, d.get("mbr_id", "83"))
                for i, d in enumerate(children)
            ), ""
        if prog in PROBES or (prog == "blockdev" and "--rereadpt" in argv):
            return "", ""
        cmd = [prog] + [str(a) for a in argv[1:]]
        if shell:
            cmd = ["sh", "-c", str(args)]
        if data is not None:
            cmd.append({"input": data})
        commands.append(cmd)
        return "", ""

    def fake_which(name, *a, **kw):
        if name == "mkfs.swap":
            return None
        return "/usr/sbin/" + name

    def exists(path):
        return os.path.basename(str(path)) in devices

    patches = [
        mock.patch.object(subp, "subp", fake_subp),
        mock.patch.object(subp, "which", fake_which),
        mock.patch.object(util, "udevadm_settle", lambda *a, **k: None),
        mock.patch.object(cds.os.path, "exists", exists),
        mock.patch.object(cds.os.path, "realpath", lambda p: p),
        mock.patch.object(Path, "is_block_device", lambda p: exists(p)),
    ]
    # 22.4 looked its programs up when imported.
    for const, prog in [
        ("SFDISK_CMD", "sfdisk"),
        ("SGDISK_CMD", "sgdisk"),
        ("LSBLK_CMD", "lsblk"),
        ("BLKID_CMD", "blkid"),
        ("BLKDEV_CMD", "blockdev"),
        ("PARTPROBE_CMD", "partprobe"),
        ("WIPEFS_CMD", "wipefs"),
    ]:
        if hasattr(cds, const):
            patches.append(mock.patch.object(cds, const, prog))
    for p in patches:
        p.start()
    try:
        kind = case["kind"]
        if kind == "mbr_layout":
            return {"value": cds.get_partition_mbr_layout(case["size"], case["layout"])}
        if kind == "gpt_layout":
            value = cds.get_partition_gpt_layout(case["size"], case["layout"])
            return {"value": [[t, "%s:%s" % tuple(se)] for t, se in value]}
        if kind == "mkpart":
            cds.mkpart(case["device"], case["definition"])
        elif kind == "mkfs":
            cds.mkfs(case["cfg"])
        return {"commands": commands}
    except Exception as e:  # cloud-init logs these and goes on
        return {"error": str(e).splitlines()[0] if str(e) else type(e).__name__}
    finally:
        for p in reversed(patches):
            p.stop()


print(json.dumps([answer(c) for c in json.load(sys.stdin)]))
