import { GRPC_CODES, MeshletHttpError } from '@meshlet/shared';
import { describe, expect, it } from 'vitest';
import { AgentErrors } from '../../errors.js';
import { grpcCodeOf, grpcMessage } from './grpc-answer.js';
import { grpcCodeName } from './grpc-metrics.js';
import { grpcDeadline, grpcTimeoutHeader } from './grpc-timeout.js';
import { requestHeadersH2, responseHeadersH2 } from './h2-headers.js';

describe('grpc-timeout', () => {
  it('reads every unit of the gRPC spec', () => {
    expect(grpcDeadline('2H', 0)).toBe(7_200_000);
    expect(grpcDeadline('3M', 0)).toBe(180_000);
    expect(grpcDeadline('5S', 10)).toBe(5010);
    expect(grpcDeadline('250m', 0)).toBe(250);
    expect(grpcDeadline('1500u', 0)).toBeCloseTo(1.5);
    expect(grpcDeadline('2000000n', 0)).toBeCloseTo(2);
  });
  it('ignores a malformed or over-long value (no deadline, as gRPC servers do)', () => {
    for (const bad of ['', '5', 'S', '5s', '123456789m', '-1m', '1.5S', ' 5S'])
      expect(grpcDeadline(bad, 0), bad).toBeUndefined();
    expect(grpcDeadline(undefined, 0)).toBeUndefined();
    expect(grpcDeadline(['5S', '6S'], 0)).toBeUndefined();
  });
  it('writes what is left in whole milliseconds, at least 1', () => {
    expect(grpcTimeoutHeader(249.2)).toBe('250m');
    expect(grpcTimeoutHeader(0.01)).toBe('1m');
  });
  it('keeps to 8 digits by taking a coarser unit, rounding up (found by review: 48 h became 172800000m)', () => {
    expect(grpcTimeoutHeader(99_999_999)).toBe('99999999m');
    expect(grpcTimeoutHeader(48 * 3_600_000)).toBe('172800S');
    expect(grpcTimeoutHeader(100_000_000_000)).toBe('1666667M');
    for (const ms of [1, 1e8, 1e11, 1e13]) expect(grpcTimeoutHeader(ms)).toMatch(/^\d{1,8}[mSMH]$/);
    expect(grpcDeadline(grpcTimeoutHeader(48 * 3_600_000), 0)).toBe(48 * 3_600_000);
  });
});

describe("the agent's refusals as gRPC statuses", () => {
  it('maps rate limits to RESOURCE_EXHAUSTED, timeouts to DEADLINE_EXCEEDED, breakers and outages to UNAVAILABLE', () => {
    expect(grpcCodeOf(AgentErrors.RATE_LIMITED('x'))).toBe(GRPC_CODES['resource-exhausted']);
    expect(grpcCodeOf(AgentErrors.UPSTREAM_TIMEOUT('x'))).toBe(GRPC_CODES['deadline-exceeded']);
    expect(grpcCodeOf(AgentErrors.CIRCUIT_OPEN('x'))).toBe(GRPC_CODES.unavailable);
    expect(grpcCodeOf(AgentErrors.NO_HEALTHY_ENDPOINT('x'))).toBe(GRPC_CODES.unavailable);
    expect(grpcCodeOf(AgentErrors.APP_RESET('x'))).toBe(GRPC_CODES.unavailable);
    expect(grpcCodeOf(AgentErrors.UNKNOWN_SERVICE('x'))).toBe(GRPC_CODES.unimplemented);
    expect(grpcCodeOf(AgentErrors.AUTHZ_DENIED('x'))).toBe(GRPC_CODES['permission-denied']);
    expect(grpcCodeOf(new MeshletHttpError('MESHLET_X', 418, 'x'))).toBe(GRPC_CODES.unknown);
  });
  it('percent-encodes grpc-message as the spec says', () => {
    expect(grpcMessage('plain text: ok')).toBe('plain text: ok');
    expect(grpcMessage('100% sure')).toBe('100%25 sure');
    expect(grpcMessage('line\nbreak é')).toBe('line%0Abreak %C3%A9');
  });
  it('names codes as gRPC does', () => {
    expect(grpcCodeName(14)).toBe('UNAVAILABLE');
    expect(grpcCodeName(4)).toBe('DEADLINE_EXCEEDED');
    expect(grpcCodeName(99)).toBe('UNKNOWN');
    expect(grpcCodeName(undefined)).toBe('UNKNOWN');
  });
});

describe('HTTP/2 headers on the next hop', () => {
  const incoming = {
    ':method': 'POST',
    ':path': '/a',
    ':authority': 'spoofed',
    ':scheme': 'https',
    connection: 'keep-alive',
    'keep-alive': '5',
    'transfer-encoding': 'chunked',
    upgrade: 'h2c',
    te: 'trailers',
    host: 'h',
    'content-type': 'application/grpc',
    'x-meshlet-caller': 'spiffe://forged',
    'x-forwarded-client-cert': 'forged',
    'x-app': ['1', '2'],
  };
  it('sets the pseudo-headers, drops hop-by-hop ones and keeps te: trailers', () => {
    const out = requestHeadersH2(incoming, { method: 'POST', path: '/b', authority: 'svc' });
    expect(out).toMatchObject({
      ':method': 'POST',
      ':path': '/b',
      ':authority': 'svc',
      ':scheme': 'http',
      te: 'trailers',
    });
    for (const h of ['connection', 'keep-alive', 'transfer-encoding', 'upgrade', 'host'])
      expect(out[h], h).toBeUndefined();
    expect(out['x-app']).toEqual(['1', '2']);
    expect(requestHeadersH2({ te: 'gzip' }, { method: 'GET', path: '/', authority: 'a' }).te).toBeUndefined();
  });
  it('drops identity headers a caller could forge when told to (the inbound side)', () => {
    expect(requestHeadersH2(incoming, { method: 'POST', path: '/', authority: 'a' })['x-meshlet-caller']).toBe(
      'spiffe://forged',
    );
    const inbound = requestHeadersH2(incoming, { method: 'POST', path: '/', authority: 'a' }, true);
    expect(inbound['x-meshlet-caller']).toBeUndefined();
    expect(inbound['x-forwarded-client-cert']).toBeUndefined();
  });
  it('keeps :status and drops other pseudo and hop-by-hop headers of an answer', () => {
    expect(responseHeadersH2({ ':status': 200 as never, connection: 'close', 'grpc-status': '0' })).toEqual({
      ':status': 200,
      'grpc-status': '0',
    });
  });
});
