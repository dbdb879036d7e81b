// Resolve credentials with the AWS SDK for JavaScript v3's default Node.js chain
// (`fromNodeProviderChain`) in this process's environment and print one JSON line:
// {"ok":true,"access_key_id":…,"expiration":…} or {"ok":false,"error":…}. Secrets are
// not printed. Used by tests/tests/it/creds.rs and bench/creds/.
"use strict";
const { fromNodeProviderChain } = require("@aws-sdk/credential-providers");

const silent = { debug() {}, info() {}, warn() {}, error() {} };

fromNodeProviderChain({ logger: silent })()
  .then((c) => {
    process.stdout.write(
      JSON.stringify({
        ok: true,
        access_key_id: c.accessKeyId,
        session_token: c.sessionToken !== undefined,
        expiration: c.expiration ? c.expiration.toISOString() : null,
      }) + "\n",
    );
  })
  .catch((e) => {
    process.stdout.write(
      JSON.stringify({ ok: false, error: String(e && e.message), name: e && e.name }) + "\n",
    );
  });
