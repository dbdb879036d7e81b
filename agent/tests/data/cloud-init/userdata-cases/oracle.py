"""Reference output of cloud-init's own UserDataProcessor for one user-data file.

Usage: /usr/bin/python3 oracle.py FILE [LAUNCH_INDEX]
Prints {"parts": [{content_type, filename, bytes, sha256}]} (or {"error": ...}) after
EC2's extra base64 decode, processing and launch-index filtering, hashing each part's
payload as cloud-init's handlers receive it. `@DIR@` in the file is replaced with the
file's folder (for file:// includes).
"""
import sys, json, hashlib, base64, binascii, tempfile, logging
logging.disable(logging.CRITICAL)
from cloudinit import helpers, util
from cloudinit.user_data import UserDataProcessor
from cloudinit.filters import launch_index
import os
raw = open(sys.argv[1], 'rb').read().replace(b'@DIR@', os.path.dirname(os.path.abspath(sys.argv[1])).encode())
try:
    raw = base64.b64decode(raw, validate=True)
except binascii.Error:
    pass
idx = int(sys.argv[2]) if len(sys.argv) > 2 and sys.argv[2] else None
paths = helpers.Paths({"cloud_dir": tempfile.mkdtemp()})
try:
    msg = UserDataProcessor(paths).process(raw)
except Exception as e:
    print(json.dumps({"error": str(e)})); sys.exit(0)
msg = launch_index.Filter(idx).apply(msg)
out = []
for part in msg.walk():
    if part.get_content_maintype() == 'multipart':
        continue
    payload = util.fully_decoded_payload(part) or b''
    if isinstance(payload, str):
        payload = payload.encode('utf-8', 'surrogateescape')
    out.append({"content_type": part.get_content_type(), "filename": part.get_filename(),
                "bytes": len(payload), "sha256": hashlib.sha256(payload).hexdigest()})
print(json.dumps({"parts": out}))
