import { connect, constants } from 'node:http2';
import { createLogger } from '@meshlet/shared';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EndpointStatsMap } from '../../balancer/endpoint-stats.js';
import { OriginPools } from '../origin-pools.js';
import { OutboundListener } from '../outbound-listener.js';
import { closeServer } from '../server-lifecycle.js';
import { listen } from '../test-support/outbound.js';

// HTTP/2 connections of apps to the outbound listener: idle ones are closed as idle HTTP/1.1 ones are, and every
// one is closed when the listener stops.

describe('HTTP/2 sessions on a listener', () => {
  const pools = new OriginPools();
  let listener: OutboundListener;
  let port = 0;
  beforeAll(async () => {
    listener = new OutboundListener({
      log: createLogger('test', 'silent'),
      table: () => undefined,
      pools,
      stats: new EndpointStatsMap(),
      random: Math.random,
      clock: Date.now,
    });
    listener.server.keepAliveTimeout = 200;
    port = await listen(listener.server);
  });
  afterAll(async () => {
    await pools.close();
  });

  it('closes a session with no stream open after the idle timeout (GOAWAY), and the listener with it', async () => {
    const session = connect(`http://127.0.0.1:${port}`);
    const s = session.request({ ':path': '/', ':authority': 'svc' });
    s.end();
    s.resume();
    await new Promise((r) => s.once('close', r));
    const goaway = await new Promise<number>((r) => session.once('goaway', (code: number) => r(code)));
    expect(goaway).toBe(constants.NGHTTP2_NO_ERROR);
    await new Promise((r) => session.once('close', r));
  });

  it('stops with sessions still connected: they are told to go away and the listener closes', async () => {
    const session = connect(`http://127.0.0.1:${port}`);
    session.on('error', () => undefined);
    await new Promise((r) => session.once('connect', r));
    listener.server.keepAliveTimeout = 0;
    await closeServer(listener.server);
    await new Promise((r) => session.once('close', r));
  });
});
