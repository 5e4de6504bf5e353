import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import { createLogger, type WebhookConfig } from '@meshlet/shared';
import { afterEach, describe, expect, it } from 'vitest';
import type { MeshEvent } from '../events/event-log.js';
import { WEBHOOK_MAX_QUEUE, WebhookSender } from './webhook-sender.js';

interface Received {
  path: string;
  headers: IncomingMessage['headers'];
  body: unknown;
}

/** A real HTTP receiver on loopback; `answer` decides each reply (in order of arrival). */
async function receiver(
  answer: (n: number, req: IncomingMessage, res: ServerResponse) => void = (_n, _q, res) => res.end('ok'),
) {
  const got: Received[] = [];
  const server: Server = createServer((req, res) => {
    let data = '';
    req.on('data', (c: Buffer) => (data += c.toString('utf8')));
    req.on('end', () => {
      got.push({ path: req.url ?? '', headers: req.headers, body: JSON.parse(data) as unknown });
      answer(got.length, req, res);
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  servers.push(server);
  return { got, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

/** A logger whose lines the test can read. */
function capturedLog() {
  const lines: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const l of chunk.toString('utf8').split('\n')) if (l) lines.push(JSON.parse(l) as Record<string, unknown>);
      done();
    },
  });
  return { log: createLogger('test', 'debug', sink), lines };
}

function hook(url: string, o: Partial<WebhookConfig> = {}): WebhookConfig {
  return { url, format: 'json', kinds: ['health', 'failover', 'drain'], timeoutMs: 5000, ...o };
}

let seq = 0;
function event(o: Partial<MeshEvent> = {}): MeshEvent {
  seq++;
  return {
    seq,
    time: Date.UTC(2026, 10, 23, 17, 40, 1, 123),
    kind: 'health',
    service: 'orders',
    instance: 'orders-1',
    from: 'healthy',
    to: 'unhealthy',
    reason: '2 of 2 callers see it failing (quorum 2)',
    evidence: { signal: 'callers', callers: 2 },
    ...o,
  };
}

const servers: Server[] = [];
const senders: WebhookSender[] = [];
const fast = { attempts: 5, initialMs: 20, maxMs: 100 };

function sender(options: ConstructorParameters<typeof WebhookSender>[0]): WebhookSender {
  const s = new WebhookSender(options);
  senders.push(s);
  return s;
}

afterEach(async () => {
  for (const s of senders.splice(0)) s.close();
  await Promise.all(servers.splice(0).map((s) => new Promise((r) => s.close(r))));
});

describe('WebhookSender', () => {
  it('POSTs { event } with the time in ISO 8601 and the configured headers, in order', async () => {
    const r = await receiver();
    const { log, lines } = capturedLog();
    const s = sender({
      hooks: [hook(`${r.url}/hook`, { headers: { authorization: 'Bearer secret-token-123456' } })],
      log,
    });
    const a = event();
    const b = event({
      kind: 'failover',
      instance: undefined,
      from: 'tier-0',
      to: 'tier-1',
      reason: 'tier 0 has no healthy endpoint',
    });
    s.send(a);
    s.send(b);
    await s.idle();
    expect(r.got.map((g) => g.body)).toEqual([
      { event: { ...a, time: '2026-11-23T17:40:01.123Z' } },
      {
        event: {
          seq: b.seq,
          time: '2026-11-23T17:40:01.123Z',
          kind: 'failover',
          service: 'orders',
          from: 'tier-0',
          to: 'tier-1',
          reason: b.reason,
          evidence: b.evidence,
        },
      },
    ]);
    expect(r.got[0]?.path).toBe('/hook');
    expect(r.got[0]?.headers['content-type']).toBe('application/json');
    expect(r.got[0]?.headers.authorization).toBe('Bearer secret-token-123456');
    expect(JSON.stringify(lines)).not.toContain('secret-token');
  });

  it('retries after a 500 and stops at the first success', async () => {
    const r = await receiver((n, _q, res) => {
      res.statusCode = n === 1 ? 500 : 204;
      res.end();
    });
    const { log, lines } = capturedLog();
    const s = sender({ hooks: [hook(r.url)], log, retry: fast, random: () => 0.5 });
    const e = event();
    s.send(e);
    await s.idle();
    expect(r.got).toHaveLength(2);
    expect(r.got[1]?.body).toEqual(r.got[0]?.body);
    expect(lines.filter((l) => l.msg === 'webhook delivery failed; retrying')).toMatchObject([
      { status: 500, attempt: 1, delayMs: 15 },
    ]);
    expect(lines.filter((l) => l.level === 40)).toEqual([]);
  });

  it('retries a 429 and a refused connection up to 5 attempts with growing delays, then gives up and goes on', async () => {
    const r = await receiver((n, _q, res) => {
      res.statusCode = n <= 5 ? 429 : 200;
      res.end();
    });
    const { log, lines } = capturedLog();
    const s = sender({ hooks: [hook(r.url)], log, retry: fast, random: () => 1 - Number.EPSILON });
    s.send(event());
    s.send(event());
    await s.idle();
    expect(r.got).toHaveLength(6);
    // Just under the ceiling of each: 20, 40, 80 ms, then the 100 ms cap.
    expect(lines.filter((l) => l.msg === 'webhook delivery failed; retrying').map((l) => l.delayMs)).toEqual([
      19, 39, 79, 99,
    ]);
    expect(lines.filter((l) => l.level === 40)).toMatchObject([
      { msg: 'webhook delivery failed; giving up on this event', attempts: 5, status: 429 },
    ]);

    // Nobody listening: connection refused, retried as well.
    const closed = await receiver();
    await new Promise((res) => servers.pop()?.close(res));
    const dead = capturedLog();
    const s2 = sender({ hooks: [hook(closed.url)], log: dead.log, retry: { attempts: 3, initialMs: 10, maxMs: 10 } });
    s2.send(event());
    await s2.idle();
    expect(dead.lines.filter((l) => l.level === 40)).toMatchObject([{ attempts: 3, err: 'ECONNREFUSED' }]);
  });

  it('does not retry a 400, and names the webhook by its origin only', async () => {
    const r = await receiver((_n, _q, res) => {
      res.statusCode = 400;
      res.end('bad');
    });
    const { log, lines } = capturedLog();
    const s = sender({ hooks: [hook(`${r.url}/services/T000/B000/secret-path`)], log, retry: fast });
    s.send(event());
    await s.idle();
    expect(r.got).toHaveLength(1);
    expect(lines.filter((l) => l.level === 40)).toMatchObject([
      { msg: 'webhook refused the event; not retrying', status: 400, attempts: 1, webhook: 0, target: r.url },
    ]);
    expect(JSON.stringify(lines)).not.toContain('secret-path');
  });

  it('retries an attempt that gets no answer within timeoutMs', async () => {
    const r = await receiver((n, _q, res) => {
      if (n > 1) res.end();
      // The first request is never answered.
    });
    const { log, lines } = capturedLog();
    const s = sender({ hooks: [hook(r.url, { timeoutMs: 100 })], log, retry: fast });
    s.send(event());
    await s.idle();
    expect(r.got).toHaveLength(2);
    expect(lines.find((l) => l.msg === 'webhook delivery failed; retrying')).toMatchObject({
      err: 'no answer within 100 ms',
    });
  });

  it('keeps at most maxQueue events waiting per webhook, dropping the oldest with a warning', async () => {
    expect(WEBHOOK_MAX_QUEUE).toBe(1000);
    let release: () => void = () => undefined;
    const held = new Promise<void>((res) => (release = res));
    const r = await receiver((n, _q, res) => {
      if (n === 1) void held.then(() => res.end());
      else res.end();
    });
    const { log, lines } = capturedLog();
    const s = sender({ hooks: [hook(r.url)], log, maxQueue: 3 });
    const events = Array.from({ length: 7 }, () => event());
    for (const e of events) s.send(e);
    expect(s.pending).toBe(4); // one in flight, three waiting
    release();
    await s.idle();
    const seqs = r.got.map((g) => (g.body as { event: MeshEvent }).event.seq);
    expect(seqs).toEqual([events[0], events[4], events[5], events[6]].map((e) => e?.seq));
    // Three dropped, one warning: the first of the run.
    expect(lines.filter((l) => l.level === 40)).toMatchObject([
      {
        msg: 'webhook queue full; dropped its oldest event (is the receiver down or slow?)',
        seq: events[1]?.seq,
        dropped: 1,
      },
    ]);
  });

  it('writes a one-line Slack message and sends only the kinds asked for', async () => {
    const r = await receiver();
    const { log } = capturedLog();
    const s = sender({ hooks: [hook(r.url, { format: 'slack', kinds: ['failover', 'drain'] })], log });
    s.send(event());
    s.send(
      event({
        kind: 'failover',
        instance: undefined,
        from: 'tier-0',
        to: 'tier-1',
        reason: 'tier 0 has no healthy endpoint',
      }),
    );
    s.send(
      event({
        kind: 'drain',
        instance: 'orders-2',
        from: 'healthy',
        to: 'draining',
        reason: 'kernel <upgrade> & reboot\nby ops',
      }),
    );
    await s.idle();
    expect(r.got.map((g) => g.body)).toEqual([
      { text: 'meshlet failover: orders tier-0 → tier-1 (tier 0 has no healthy endpoint)' },
      { text: 'meshlet drain: orders/orders-2 healthy → draining (kernel &lt;upgrade&gt; &amp; reboot by ops)' },
    ]);
  });

  it('delivers to each webhook independently: a dead one does not hold up a live one', async () => {
    const live = await receiver();
    const stuck = await receiver(() => undefined);
    const { log } = capturedLog();
    const s = sender({ hooks: [hook(stuck.url), hook(live.url)], log });
    s.send(event());
    s.send(event());
    await expect.poll(() => live.got.length).toBe(2);
    expect(stuck.got).toHaveLength(1);
    s.close();
    await s.idle();
    expect(s.pending).toBe(0);
  });

  it('close() stops the retry timers and drops what waits', async () => {
    const r = await receiver((_n, _q, res) => {
      res.statusCode = 503;
      res.end();
    });
    const { log } = capturedLog();
    const s = sender({ hooks: [hook(r.url)], log, retry: { attempts: 5, initialMs: 60_000, maxMs: 60_000 } });
    s.send(event());
    s.send(event());
    await expect.poll(() => r.got.length).toBe(1);
    await expect.poll(() => s.pending).toBe(2); // one waiting out its 30-60 s backoff, one queued
    s.close();
    await s.idle();
    expect(s.pending).toBe(0);
    s.send(event());
    expect(s.pending).toBe(0);
    expect(r.got).toHaveLength(1);
  });
});
