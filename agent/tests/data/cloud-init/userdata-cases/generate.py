"""Writes the user-data conformance cases (one folder each, file `input`, optional
`launch-index`), then records cloud-init's answer for each in `expected.json` with
oracle.py. Run with the system python3 where cloud-init is installed:
    /usr/bin/python3 generate.py
"""
import base64, gzip, json, os, subprocess, sys

HERE = os.path.dirname(os.path.abspath(__file__))


def gz(b):
    return gzip.compress(b, mtime=0)


def b64(b):
    return base64.encodebytes(b).decode()


def mime(parts, boundary="BOUND", preamble="", close=True, top=""):
    out = top + 'MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary="%s"\n\n' % boundary
    out += preamble
    for headers, body in parts:
        out += "--%s\n%s\n%s\n" % (boundary, headers, body)
    if close:
        out += "--%s--\n" % boundary
    return out


CASES = {
    # 1.1 raw blob pipeline
    "plain-script": b"#!/bin/sh\necho hi\n",
    "ec2-double-base64": base64.b64encode(b"#cloud-config\nruncmd: [ls]\n"),
    "base64-with-newlines-not-decoded": base64.encodebytes(b"#cloud-config\nruncmd: [ls]\n"),
    "short-word-is-base64": b"test",
    "whole-blob-gzip": gz(b"#cloud-config\npackages: [htop]\n"),
    "gzip-then-mime": gz(mime([("Content-Type: text/x-shellscript\n", "#!/bin/sh\necho a")]).encode()),
    "truncated-whole-blob-gzip": gz(b"#!/bin/sh\necho truncated\n")[:-9],
    "mime-version-missing": b'Content-Type: multipart/mixed; boundary="B"\n\n--B\n\n#!/bin/sh\n--B--\n',
    "mime-version-after-4096": b" " * 4100 + b"MIME-Version: 1.0\n\n#!/bin/sh\n",
    "empty": b"",
    "whitespace-only": b"  \n\n",
    "crlf-script": b"#!/bin/sh\r\necho crlf\r\n",
    "bom-script": "\ufeff#!/bin/sh\necho bom\n".encode(),
    "non-utf8-script": b"#!/bin/sh\necho \xff\xfe\n",
    # 1.2 sniffing
    "sniff-leading-whitespace": b"\n\n   #!/bin/bash\necho x\n",
    "sniff-case-insensitive": b"#CLOUD-CONFIG\nruncmd: [ls]\n",
    "sniff-prefix-only": b"#cloud-configfoo\na: 1\n",
    "sniff-boothook": b"#cloud-boothook\necho boot\n",
    "sniff-part-handler": b"#part-handler\ndef list_types():\n    return []\n",
    "sniff-jsonp": b'#cloud-config-jsonp\n[{"op": "add", "path": "/a", "value": 1}]\n',
    "sniff-jinja": b"## template: jinja\n#!/bin/sh\necho {{ v1.instance_id }}\n",
    "sniff-jinja-no-space": b"## template:jinja\n#!/bin/sh\n",
    "sniff-unknown": b"echo hi\nmore\n",
    "sniff-per-boot-literal": b"text/x-shellscript-per-boot\necho\n",
    "powershell": b"<powershell>\nWrite-Host hi\n</powershell>\n",
    # 1.3 MIME parts
    "mime-sniff-text-plain": mime([
        ("Content-Type: text/plain\n", "#cloud-config\nruncmd: [ls]"),
        ("", "#!/bin/sh\necho default type"),
        ("Content-Type: text/plain\n", "nothing known"),
    ]).encode(),
    "mime-shellscript-resniffed": mime([
        ("Content-Type: text/x-shellscript\n", "#cloud-config\na: 1"),
        ("Content-Type: text/x-shellscript\n", "no shebang"),
    ]).encode(),
    "mime-declared-type-trusted": mime([
        ("Content-Type: text/cloud-config\n", "#!/bin/sh\necho trusted"),
        ("Content-Type: text/cloud-boothook\n", "#cloud-config\n"),
    ]).encode(),
    "mime-per-frequency-scripts": mime([
        ('Content-Type: text/x-shellscript-per-boot\nContent-Disposition: attachment; filename="boot.sh"\n', "#!/bin/sh\necho boot"),
        ("Content-Type: text/x-shellscript-per-instance\n", "#!/bin/sh\necho instance"),
        ("Content-Type: text/x-shellscript-per-once\n", "#!/bin/sh\necho once"),
    ]).encode(),
    "mime-base64-and-qp": mime([
        ("Content-Type: text/x-shellscript\nContent-Transfer-Encoding: base64\n", b64(b"#!/bin/sh\necho base64\n")),
        ("Content-Type: text/plain\nContent-Transfer-Encoding: quoted-printable\n", "#cloud-config\nruncmd: [\"echo a=3Db\", =\n\"x\"]"),
    ]).encode(),
    "mime-gzip-parts": mime([
        ('Content-Type: application/x-gzip\nContent-Transfer-Encoding: base64\nContent-Disposition: attachment; filename="cc.gz"\n', b64(gz(b"#cloud-config\nruncmd: [ls]\n"))),
        ("Content-Type: application/gzip\nContent-Transfer-Encoding: base64\n", b64(gz(b"#!/bin/sh\necho gz\n"))),
        ("Content-Type: application/x-gzip-compressed\nContent-Transfer-Encoding: base64\n", b64(gz(b"plain text\n"))),
    ]).encode(),
    "mime-truncated-gzip-part": mime([
        ("Content-Type: application/x-gzip\nContent-Transfer-Encoding: base64\n", b64(gz(b"#!/bin/sh\necho x\n")[:-6])),
        ("", "#!/bin/sh\necho after"),
    ]).encode(),
    "mime-nested": mime([
        ('Content-Type: multipart/alternative; boundary="INNER"\n',
         "--INNER\nContent-Type: text/x-shellscript\n\n#!/bin/sh\necho inner1\n--INNER\n\n#cloud-config\na: 2\n--INNER--"),
        ("Content-Type: text/cloud-config\n", "b: 3"),
    ]).encode(),
    "mime-missing-close-boundary": mime([
        ("", "#!/bin/sh\necho one"),
        ("", "#!/bin/sh\necho two"),
    ], close=False).encode(),
    "mime-no-start-boundary": b'MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary="B"\n\n--C\n\n#!/bin/sh\n--C--\n',
    "mime-no-boundary-param": b"MIME-Version: 1.0\nContent-Type: multipart/mixed\n\n--B\n\n#!/bin/sh\n--B--\n",
    "mime-preamble-epilogue": mime([("", "#!/bin/sh\necho p")], preamble="This is a preamble\n\n").encode() + b"epilogue\n",
    "mime-crlf": mime([
        ("Content-Type: text/x-shellscript\n", "#!/bin/sh\necho crlf"),
        ("Content-Type: text/cloud-config\n", "#cloud-config\nc: 1"),
    ]).replace("\n", "\r\n").encode(),
    "mime-single-part": b"MIME-Version: 1.0\nContent-Type: text/x-shellscript\n\n#!/bin/sh\necho single\n",
    "mime-no-content-type": b"MIME-Version: 1.0\nSubject: x\n\n#cloud-config\na: 1\n",
    "mime-name-param-and-folded-headers": mime([
        ('Content-Type: text/x-shellscript;\n name="named.sh"\n', "#!/bin/sh\necho named"),
        ('Content-Type: text/cloud-config\nContent-Disposition: attachment;\n\tfilename="folded.yaml"\n', "a: 1"),
    ]).encode(),
    "mime-mixed-case-headers": mime([
        ("content-type: TEXT/X-SHELLSCRIPT\nCONTENT-TRANSFER-ENCODING: BASE64\n", b64(b"#!/bin/sh\necho case\n")),
    ]).encode(),
    "mime-consecutive-boundaries": mime([("", ""), ("", "#!/bin/sh\necho x")]).replace("--BOUND\n\n\n--BOUND", "--BOUND\n--BOUND").encode(),
    "mime-empty-part": mime([("Content-Type: text/x-shellscript\n", "")]).encode(),
    "mime-octet-stream": mime([("Content-Type: application/octet-stream\nContent-Transfer-Encoding: base64\n", b64(b"\x00\x01binary"))]).encode(),
    "mime-malformed-content-type": mime([("Content-Type: garbage\n", "#!/bin/sh\necho g")]).encode(),
    # 1.4 naming and launch index
    "launch-index-filter": mime([
        ("Content-Type: text/x-shellscript\nLaunch-Index: 0\n", "#!/bin/sh\necho zero"),
        ("Content-Type: text/x-shellscript\nLaunch-Index: 1\n", "#!/bin/sh\necho one"),
        ("Content-Type: text/cloud-config\n", "#cloud-config\nlaunch-index: 1\na: 1"),
        ("Content-Type: text/cloud-config\n", "#cloud-config\nlaunch-index: 0\nb: 1"),
        ("Content-Type: text/x-shellscript\nLaunch-Index: abc\n", "#!/bin/sh\necho bad"),
        ("Content-Type: text/x-shellscript\n", "#!/bin/sh\necho all"),
    ]).encode(),
    # 1.5 include
    "include-file": b"#include\nfile://@DIR@/inc-script.txt\n# comment\n\nfile://@DIR@/inc-config.txt\n",
    "include-once-file": b"#include-once file://@DIR@/inc-script.txt\n",
    # A file:// URL's query and fragment are not part of the file name (cloud-init 25;
    # 22.4 looked for a file named with them, and failed).
    "include-file-query": b"#include\nfile://@DIR@/inc-script.txt?version=2#top\n",
    "include-mime-part": mime([
        ("Content-Type: text/x-include-url\n", "file://@DIR@/inc-script.txt"),
        ("Content-Type: text/x-shellscript\n", "#!/bin/sh\necho after include"),
    ]).encode(),
    # 1.6 archive
    "archive": b"""#cloud-config-archive
- type: text/cloud-boothook
  content: |
    #cloud-boothook
    echo boothook
- content: |
    #!/bin/sh
    echo sniffed script
- content: |
    runcmd: [ls]
  filename: cc.yaml
  Merge-Type: list(append)+dict(recurse_array)+str()
- "a: plain string entry"
- type: text/x-include-url
  content: http://example.invalid/never-fetched
- type: foo/bar
  content: odd
- launch-index: 1
  content: "#cloud-config\\nb: 1"
""",
    "archive-not-a-list": b"#cloud-config-archive\na: 1\n",
    "archive-in-mime": mime([
        ("Content-Type: text/cloud-config-archive\n", "- '#!/bin/sh\n\n  echo from archive'\n- type: text/cloud-config\n  content: 'x: 1'"),
        ("", "#!/bin/sh\necho last"),
    ]).encode(),
    # 1.4 charsets: cloud-init ignores the declared charset and keeps the part's bytes
    "mime-us-ascii-holding-utf8": mime([
        ('Content-Type: text/x-shellscript; charset="us-ascii"\nContent-Transfer-Encoding: 7bit\nContent-Disposition: attachment; filename="userdata.txt"\n',
         "#!/bin/bash\n# ユーザーデータ\necho café > /tmp/cafe\n"),
        ('Content-Type: text/cloud-config; charset="us-ascii"\nContent-Transfer-Encoding: 7bit\nContent-Disposition: attachment; filename="cloud-config.txt"\n',
         "#cloud-config\n# コメント\nruncmd: [echo José]\n"),
    ]).encode(),
    "mime-latin1-declared-latin1": mime([
        ('Content-Type: text/x-shellscript; charset="iso-8859-1"\nContent-Transfer-Encoding: base64\n', b64(b"#!/bin/sh\necho caf\xe9\n")),
    ]).encode(),
}

LAUNCH_INDEX = {"launch-index-filter": "1"}

# Cases whose answer is today's cloud-init's (25, Debian 13's, unpacked by .ci/run;
# STRAP_TEST_CLOUD_INIT_25 names its dist-packages), where strap follows it and 22.4
# differs.
CLOUD_INIT_25 = os.environ.get(
    "STRAP_TEST_CLOUD_INIT_25",
    "/var/cache/strap-ci/cloud-init-25/usr/lib/python3/dist-packages",
)
FOLLOW_25 = {"include-file-query"}

SIDE_FILES = {
    "include-file": {"inc-script.txt": b"#!/bin/sh\necho included\n",
                     "inc-config.txt": gz(b"#cloud-config\nruncmd: [included]\n")},
    "include-once-file": {"inc-script.txt": b"#!/bin/sh\necho once\n"},
    "include-file-query": {"inc-script.txt": b"#!/bin/sh\necho query\n"},
    "include-mime-part": {"inc-script.txt": mime([("", "#!/bin/sh\necho from included mime")]).encode()},
}


def main():
    for name, data in sorted(CASES.items()):
        d = os.path.join(HERE, name)
        os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, "input"), "wb") as f:
            f.write(data)
        for side, content in SIDE_FILES.get(name, {}).items():
            with open(os.path.join(d, side), "wb") as f:
                f.write(content)
        args = [sys.executable, os.path.join(HERE, "oracle.py"), os.path.join(d, "input")]
        if name in LAUNCH_INDEX:
            with open(os.path.join(d, "launch-index"), "w") as f:
                f.write(LAUNCH_INDEX[name] + "\n")
            args.append(LAUNCH_INDEX[name])
        env = dict(os.environ)
        source = "cloud-init 22.4 UserDataProcessor (Debian cloud-init 22.4.2), via oracle.py"
        if name in FOLLOW_25:
            env["PYTHONPATH"] = CLOUD_INIT_25
            source = "cloud-init 25 UserDataProcessor (Debian 13's cloud-init 25.1.4), via oracle.py"
        out = subprocess.run(args, check=True, capture_output=True, env=env).stdout
        expected = json.loads(out)
        expected["source"] = source
        with open(os.path.join(d, "expected.json"), "w") as f:
            json.dump(expected, f, indent=2, sort_keys=True)
            f.write("\n")
        print(name, "error" if "error" in expected else len(expected["parts"]))


if __name__ == "__main__":
    main()
