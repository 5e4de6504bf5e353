import { describe, expect, it } from 'vitest';
import { meshctl, useCannedServer } from './test-support/cli-harness.js';
import { EVENTS, MESH_ANSWERS } from './test-support/mesh-answers.js';

const { server, base, run } = useCannedServer(MESH_ANSWERS);

describe('meshctl events --follow', () => {
  it('prints the listed events, then streamed ones, and reconnects after a lost stream resuming after the last seq', async () => {
    const streams: string[] = [];
    server.routes.set('GET /v1/events/stream', (req, res) => {
      streams.push(`${req.url} last-event-id=${String(req.headers['last-event-id'])}`);
      res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8' });
      const seq = streams.length === 1 ? 5 : 6;
      res.write(': connected\n\n');
      // The first stream also repeats seq 4 (already listed): it must not print twice.
      if (seq === 5) res.write(`id: 4\nevent: mesh-event\ndata: ${JSON.stringify(EVENTS.events[0])}\n\n`);
      res.write(
        `id: ${seq}\nevent: mesh-event\ndata: ${JSON.stringify({ ...EVENTS.events[0], seq, to: seq === 5 ? 'healthy' : 'unhealthy' })}\n\n`,
      );
      if (seq === 5) res.end();
    });
    const ctrlC = new AbortController();
    let lines = 0;
    const r = await meshctl(['events', '--follow', '--service', 'orders', ...base], {
      interrupt: ctrlC.signal,
      onStdout: (t) => {
        lines += t.split('\n').length - 1;
        if (lines === 3) ctrlC.abort();
      },
    });
    expect(r.code).toBe(0);
    expect(r.stdout.split('\n').map((l) => l.split(/\s+/).slice(0, 4).join(' '))).toEqual([
      '2026-11-23T17:40:01.123Z drain orders/orders-1 healthy→draining',
      '2026-11-23T17:40:01.123Z drain orders/orders-1 healthy→healthy',
      '2026-11-23T17:40:01.123Z drain orders/orders-1 healthy→unhealthy',
      '',
    ]);
    expect(streams).toEqual([
      '/v1/events/stream?service=orders&after=4 last-event-id=4',
      '/v1/events/stream?service=orders&after=5 last-event-id=5',
    ]);
    expect(r.stderr).toMatch(
      /^meshctl: event stream from http:\/\/127\.0\.0\.1:\d+ lost \(the server ended the stream\); reconnecting in \d\.\d s, resuming after seq 5\n$/,
    );
  });

  it('prints one JSON object per line with -o json', async () => {
    server.routes.set('GET /v1/events/stream', (_req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write(`id: 9\nevent: mesh-event\ndata: ${JSON.stringify({ ...EVENTS.events[0], seq: 9 })}\n\n`);
    });
    const ctrlC = new AbortController();
    const r = await meshctl(['get', 'events', '-w', '-o', 'json', ...base], {
      interrupt: ctrlC.signal,
      onStdout: (t) => t.includes('"seq":9') && ctrlC.abort(),
    });
    expect(
      r.stdout
        .trimEnd()
        .split('\n')
        .map((l) => JSON.parse(l).seq),
    ).toEqual([4, 9]);
  });

  it('gives up at once on a refusal a retry cannot fix', async () => {
    server.routes.set('GET /v1/events/stream', {
      status: 401,
      body: { error: { code: 'MESHLET_UNAUTHORIZED', message: 'x' } },
    });
    const r = await run('events', '-w');
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/refused the token from --token \(401 MESHLET_UNAUTHORIZED\)/);
  });
});
