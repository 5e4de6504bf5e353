// One lock client of the checker: an app that contends for one lock through
// its OWN agent's admin API (on loopback, inside its host's namespace) and
// writes to the fenced resource with the token it got. It also serves
// /healthz on the instance's app port, so that it is the app its agent
// fronts. Every acquire, write and release is appended to its history file
// as a JSON line, synchronously, so that a kill leaves what it knew.
//
// Each hold: writes every `writeGapMs`, renewing when half the lease is
// gone, for `holdMs`; then releases. An honest client writes only while its
// lease lasts by its own clock (`expiresAt`); every `lateEvery`-th hold (no
// randomness: runs compare) it "pauses" (as a GC pause or a stopped VM would) past its lease
// and writes once more with its old token: the resource must refuse that
// write if anyone else held the lock since. Bounded by `maxMs` and
// `maxAcquires`; ends by itself.
//
// Usage: node lock-client.mjs '<json options>'
import { appendFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';

const o = JSON.parse(process.argv[2] ?? '{}');
const {
  agent = 'http://127.0.0.1:15000',
  resource,
  name = 'checker',
  client,
  history,
  ttlMs = 2000,
  waitMs = 3000,
  holdMs = 1500,
  writeGapMs = 150,
  lateEvery = 3,
  lateByMs = 1500,
  maxMs = 60_000,
  maxAcquires = 10_000,
  appHost,
  appPort,
} = o;
if (!resource || !client || !history) throw new Error('lock-client: resource, client and history are required');

const record = (e) => appendFileSync(history, `${JSON.stringify({ ...e, client })}\n`);

if (appPort) {
  const health = createServer((_, res) => res.end('ok'));
  health.listen(appPort, appHost ?? '0.0.0.0');
  health.unref();
}

/** One request; status 0 and the error's name when there was no answer. */
async function call(method, url, body, timeoutMs) {
  try {
    const res = await fetch(url, {
      method,
      headers: body === undefined ? {} : { 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(timeoutMs),
    });
    const text = await res.text();
    let json;
    try {
      json = JSON.parse(text);
    } catch {
      json = undefined;
    }
    return { status: res.status, json };
  } catch (e) {
    return { status: 0, json: { error: { code: e?.cause?.code ?? e?.name ?? 'ERROR' } } };
  }
}

const write = async (token, late) => {
  const r = await call('POST', `${resource}/write`, { client, token, ...(late ? { late: true } : {}) }, 5_000);
  record({ type: 'write', token, at: Date.now(), status: r.status, ...(late ? { late: true } : {}) });
  return r.status;
};

const deadline = Date.now() + maxMs;
// Its agent first: until it is ready, every request would only fail.
for (let i = 0; i < 300 && Date.now() < deadline; i++) {
  if ((await call('GET', `${agent}/ready`, undefined, 1_000)).status === 200) break;
  await sleep(100);
}
let acquires = 0;
let acquiredCount = 0;
let stopping = false;
process.on('SIGTERM', () => {
  stopping = true;
});

while (!stopping && Date.now() < deadline && acquires < maxAcquires) {
  acquires++;
  const invokedAt = Date.now();
  const a = await call('POST', `${agent}/v1/locks/${name}`, { ttlMs, waitMs, label: client }, waitMs + 10_000);
  const returnedAt = Date.now();
  if (a.status !== 200) {
    record({ type: 'acquire', invokedAt, returnedAt, status: a.status, code: a.json?.error?.code });
    // Unavailable (a partition, the agent down): ask again soon, not in a spin.
    if (a.status !== 409) await sleep(200);
    continue;
  }
  const { token, holder } = a.json;
  let expiresAt = a.json.expiresAt;
  record({ type: 'acquire', invokedAt, returnedAt, status: 200, token, holder, expiresAt });
  const late = lateEvery > 0 && acquiredCount % lateEvery === lateEvery - 1;
  acquiredCount++;
  const holdEnd = returnedAt + holdMs;
  let lost = false;
  while (!stopping && Date.now() < holdEnd && Date.now() < expiresAt) {
    if (expiresAt - Date.now() < ttlMs / 2) {
      const r = await call('PUT', `${agent}/v1/locks/${name}`, { token, ttlMs }, 5_000);
      record({ type: 'renew', token, at: Date.now(), status: r.status, code: r.json?.error?.code });
      if (r.status === 200) expiresAt = r.json.expiresAt;
      else if (r.status === 409) {
        lost = true;
        break;
      }
      // 503 (doubt): the lease still lasts until expiresAt by this client's clock.
    }
    if (Date.now() >= expiresAt) break;
    await write(token, false);
    await sleep(writeGapMs);
  }
  if (late) {
    // A pause past the lease, then a write with the old token.
    await sleep(Math.max(0, expiresAt - Date.now()) + lateByMs);
    await write(token, true);
  }
  if (!lost) {
    const r = await call('DELETE', `${agent}/v1/locks/${name}?token=${token}`, undefined, 5_000);
    record({ type: 'release', token, at: Date.now(), status: r.status, code: r.json?.error?.code });
  }
}
process.exit(0);
