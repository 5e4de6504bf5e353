// One candidate of the election chaos test: an app that campaigns through
// its OWN agent's admin API (loopback, inside its host's namespace), and,
// once elected, renews its term every third of the lease. It records what
// it believes as JSON lines, appended synchronously (a SIGKILL leaves what
// it believed): `belief` {term, from, until} when elected and at each
// renewal (`until`: the lease end the agent gave, request sent + TTL),
// `end` when it learns it no longer leads (renewal refused) or its lease
// runs out without a renewal (its agent gone, or the control plane out of
// reach). It also serves /healthz on the instance's app port: it is the app
// its agent fronts. Bounded by `maxMs`; ends by itself.
//
// Usage: node election-app.mjs '<json options>'
import { appendFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';

const o = JSON.parse(process.argv[2] ?? '{}');
const { agent = 'http://127.0.0.1:15000', name = 'leader', app, history, ttlMs, maxMs = 120_000, appHost, appPort } = o;
if (!app || !history) throw new Error('election-app: app and history are required');

const record = (e) => appendFileSync(history, `${JSON.stringify({ ...e, app })}\n`);

if (appPort) createServer((_, res) => res.end('ok')).listen(appPort, appHost ?? '0.0.0.0');

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

const deadline = Date.now() + maxMs;
// Its agent first: until it is ready, every request would only fail.
for (let i = 0; i < 300 && Date.now() < deadline; i++) {
  if ((await call('GET', `${agent}/ready`, undefined, 1_000)).status === 200) break;
  await sleep(100);
}
while (Date.now() < deadline) {
  const waitMs = Math.min(30_000, Math.max(1_000, deadline - Date.now()));
  const body = { waitMs, label: app, ...(ttlMs ? { ttlMs } : {}) };
  const c = await call('POST', `${agent}/v1/elections/${name}/campaign`, body, waitMs + 10_000);
  record({
    type: 'campaign',
    at: Date.now(),
    status: c.status,
    ...(c.status === 200 ? {} : { code: c.json?.error?.code }),
  });
  if (c.status !== 200) {
    await sleep(c.status === 409 || c.status === 408 ? 0 : 200);
    continue;
  }
  const from = Date.now();
  const { term } = c.json;
  const lease = c.json.ttlMs;
  let until = c.json.expiresAt;
  record({ type: 'belief', term, from, until, at: Date.now() });
  for (;;) {
    await sleep(Math.max(50, Math.min(lease / 3, until - Date.now() - 50)));
    if (Date.now() >= until) {
      record({ type: 'end', term, at: until, why: 'lease ran out' });
      break;
    }
    if (Date.now() >= deadline) {
      record({ type: 'end', term, at: Date.now(), why: 'resigned at the end of the run' });
      await call('DELETE', `${agent}/v1/elections/${name}?term=${term}`, undefined, 2_000);
      break;
    }
    const r = await call('PUT', `${agent}/v1/elections/${name}`, { term }, Math.max(100, until - Date.now()));
    if (r.status === 200) {
      until = r.json.expiresAt;
      record({ type: 'belief', term, from, until, at: Date.now() });
    } else if (r.status === 409) {
      record({ type: 'end', term, at: Date.now(), why: 'renewal refused' });
      break;
    }
  }
}
process.exit(0);
