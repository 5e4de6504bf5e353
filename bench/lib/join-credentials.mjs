// Per-service join credentials for the benchmarks' agents: the control plane
// admits no agent without one (docs/security.md, "Secure join by default"),
// so a benchmark mints them through the admin API, as an operator does with
// `meshctl token create --service NAME`, and writes them where its agents
// read them. Never printed.
import { chmodSync, writeFileSync } from 'node:fs';

/**
 * Mints one credential per service through the control plane at `url`
 * (`http://127.0.0.1:PORT`, loopback: no admin token), `concurrency` at a
 * time. Returns `{ [service]: credential }`.
 */
export async function mintJoinCredentials(url, services, concurrency = 16) {
  const credentials = {};
  const queue = [...services];
  const worker = async () => {
    for (let service = queue.shift(); service !== undefined; service = queue.shift()) {
      const res = await fetch(`${url}/v1/join-credentials`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ service }),
      });
      const body = await res.json();
      if (res.status !== 201)
        throw new Error(`minting a join credential for ${service}: ${res.status} ${JSON.stringify(body)}`);
      credentials[service] = body.credential;
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, concurrency) }, worker));
  return credentials;
}

/**
 * Writes `text` to `file` readable by its owner only (0600), as every file
 * holding a credential (an agent config, the credentials of a swarm) must
 * be: `mode` applies only when the file is created, so an existing file is
 * narrowed too. Returns `file`.
 */
export function writePrivateFile(file, text) {
  writeFileSync(file, text, { mode: 0o600 });
  chmodSync(file, 0o600);
  return file;
}

/** Writes `credentials` as JSON readable by its owner only (0600); returns `file`. */
export function writeJoinCredentials(file, credentials) {
  return writePrivateFile(file, JSON.stringify(credentials));
}
