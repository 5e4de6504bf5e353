import { describe, expect, it } from 'vitest';
import { errorFromAnswer, errorFromNetwork, parseApiError } from './answer-error.js';
import { CliErrorCodes } from './cli-error.js';
import type { Connection } from './connection.js';

const conn: Connection = {
  server: 'http://127.0.0.1:15010',
  serverSource: '--server',
  token: 'sekret-token-value',
  tokenSource: 'MESHCTL_TOKEN',
  ca: undefined,
  caFile: undefined,
  configFile: '/home/u/.config/meshctl/config.yaml',
};
const body = (error: unknown) => JSON.stringify({ error });

describe('errorFromAnswer', () => {
  it('says which token was refused and which to use on 401, without showing it', () => {
    const e = errorFromAnswer(
      { method: 'GET', path: '/v1/services', status: 401, body: body({ code: 'MESHLET_UNAUTHORIZED', message: 'x' }) },
      conn,
    );
    expect(e.code).toBe(CliErrorCodes.AUTH);
    expect(e.exitCode).toBe(1);
    expect(e.message).toBe(
      'the control plane at http://127.0.0.1:15010 refused the token from MESHCTL_TOKEN (401 MESHLET_UNAUTHORIZED); use its auth.adminToken ' +
        '(or a read-only token for get) with --token, MESHCTL_TOKEN or token: in /home/u/.config/meshctl/config.yaml',
    );
    expect(e.message).not.toContain('sekret');
    const none = errorFromAnswer(
      { method: 'GET', path: '/v1/services', status: 401, body: '' },
      { ...conn, token: undefined, tokenSource: undefined },
    );
    expect(none.message).toMatch(
      /^the control plane at http:\/\/127\.0\.0\.1:15010 needs a token \(401\); pass its auth\.adminToken/,
    );
  });

  it('says a read-only token cannot write on 403', () => {
    const e = errorFromAnswer(
      {
        method: 'PUT',
        path: '/v1/policies/a',
        status: 403,
        body: body({ code: 'MESHLET_FORBIDDEN', message: 'read-only token' }),
      },
      conn,
    );
    expect(e.message).toMatch(
      /^the token from MESHCTL_TOKEN may not PUT \/v1\/policies\/a \(403 MESHLET_FORBIDDEN: read-only token\); a read-only token can only read, use an admin token/,
    );
  });

  it('says to wait after too many wrong tokens', () => {
    const e = errorFromAnswer(
      {
        method: 'GET',
        path: '/v1/agents',
        status: 429,
        retryAfter: '42',
        body: body({ code: 'MESHLET_TOO_MANY_AUTH_FAILURES', message: 'm' }),
      },
      conn,
    );
    expect(e.code).toBe(CliErrorCodes.AUTH);
    expect(e.message).toMatch(
      /too many requests with a wrong token came from this address \(429 MESHLET_TOO_MANY_AUTH_FAILURES\); wait 42 s/,
    );
  });

  it("prints the API's message, field and code for 404, 409 and 400 (with every issue)", () => {
    const conflict = errorFromAnswer(
      {
        method: 'PUT',
        path: '/v1/policies/orders',
        status: 409,
        context: 'policy/orders (p.yaml:1)',
        body: body({
          code: 'MESHLET_CONFLICT',
          message: 'resourceVersion 17 is stale: the policy of "orders" is at 21; get it again and reapply your change',
          field: 'resourceVersion',
        }),
      },
      conn,
    );
    expect(conflict.message).toBe(
      'policy/orders (p.yaml:1): resourceVersion 17 is stale: the policy of "orders" is at 21; get it again and reapply your change (409 MESHLET_CONFLICT)',
    );
    expect(conflict.apiCode).toBe('MESHLET_CONFLICT');
    expect(conflict.status).toBe(409);
    const invalid = errorFromAnswer(
      {
        method: 'PUT',
        path: '/v1/policies/orders',
        status: 400,
        body: body({
          code: 'MESHLET_API_INVALID',
          message: 'invalid body',
          field: 'policy.retries.maxRetries',
          issues: [
            { path: 'policy.retries.maxRetries', problem: 'must be <= 10', fix: 'use at most 10' },
            { path: 'policy.balancer.kind', problem: 'must be one of round_robin, ...' },
          ],
        }),
      },
      conn,
    );
    expect(invalid.message).toBe(
      'PUT /v1/policies/orders: invalid body (field policy.retries.maxRetries): policy.retries.maxRetries: must be <= 10 (use at most 10); ' +
        'policy.balancer.kind: must be one of round_robin, ... (400 MESHLET_API_INVALID)',
    );
    const missing = errorFromAnswer(
      {
        method: 'GET',
        path: '/v1/services/x',
        status: 404,
        context: 'services/x',
        body: body({ code: 'MESHLET_NOT_FOUND', message: 'no service "x"' }),
      },
      conn,
    );
    expect(missing.message).toBe('services/x: no service "x" (404 MESHLET_NOT_FOUND)');
  });

  it("says that no replica leads when a follower's MESHLET_NOT_LEADER names no leader, and passes on its message when it names one", () => {
    for (const leader of [undefined, null, '']) {
      const e = errorFromAnswer(
        {
          method: 'POST',
          path: '/v1/services/db/failover',
          status: 503,
          context: 'failover db',
          body: body({ code: 'MESHLET_NOT_LEADER', message: 'this control-plane replica follows', leader }),
        },
        conn,
      );
      expect(e.code).toBe(CliErrorCodes.API);
      expect(e.apiCode).toBe('MESHLET_NOT_LEADER');
      expect(e.message).toBe(
        'failover db: the control plane at http://127.0.0.1:15010 follows and no replica leads right now (etcd quorum lost?); try again shortly, and see meshctl get cluster (503 MESHLET_NOT_LEADER)',
      );
    }
    const named = errorFromAnswer(
      {
        method: 'POST',
        path: '/v1/services/db/failover',
        status: 503,
        body: body({
          code: 'MESHLET_NOT_LEADER',
          message: 'send the request to http://10.0.0.1:15010',
          leader: 'http://10.0.0.1:15010',
        }),
      },
      conn,
    );
    expect(named.message).toBe(
      'POST /v1/services/db/failover: send the request to http://10.0.0.1:15010 (503 MESHLET_NOT_LEADER)',
    );
    expect(parseApiError(body({ code: 'MESHLET_NOT_LEADER', leader: 'http://10.0.0.1:15010' }))?.leader).toBe(
      'http://10.0.0.1:15010',
    );
  });

  it('recognises a server without the route, and an answer that is not the API error shape', () => {
    const old = errorFromAnswer(
      {
        method: 'GET',
        path: '/v1/policies',
        status: 404,
        body: JSON.stringify({ message: 'Route GET:/v1/policies not found', error: 'Not Found', statusCode: 404 }),
      },
      conn,
    );
    expect(old.message).toMatch(/has no GET \/v1\/policies; is it a meshlet control plane as new as this meshctl\?/);
    const html = errorFromAnswer(
      { method: 'GET', path: '/v1/services', status: 502, body: '<html>Bad Gateway\u001b[2J</html>' },
      conn,
    );
    expect(html.message).toBe(
      'GET /v1/services: the server at http://127.0.0.1:15010 answered 502: <html>Bad Gateway [2J</html>',
    );
  });
});

describe('errorFromNetwork', () => {
  it('names the URL and the settings that point at it', () => {
    const e = errorFromNetwork(
      Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:15010'), { code: 'ECONNREFUSED' }),
      conn,
      30_000,
    );
    expect(e.code).toBe(CliErrorCodes.UNREACHABLE);
    expect(e.exitCode).toBe(1);
    expect(e.message).toBe(
      'cannot reach the control plane at http://127.0.0.1:15010: connection refused; is it running there? Point meshctl at it with ' +
        '--server URL, MESHCTL_SERVER or server: in /home/u/.config/meshctl/config.yaml (now from --server)',
    );
  });

  it('reads the code of every address of a happy-eyeballs failure, and of a cause', () => {
    const agg = Object.assign(new AggregateError([Object.assign(new Error('a'), { code: 'ECONNREFUSED' })]), {});
    expect(errorFromNetwork(agg, conn, 1000).message).toMatch(/connection refused/);
    expect(errorFromNetwork(new Error('x', { cause: { code: 'ENOTFOUND' } }), conn, 1000).message).toMatch(
      /unknown host 127\.0\.0\.1; check the address/,
    );
  });

  it('points at --ca-file for an untrusted certificate, and at http vs https for a handshake failure', () => {
    expect(
      errorFromNetwork(Object.assign(new Error('self-signed'), { code: 'SELF_SIGNED_CERT_IN_CHAIN' }), conn, 1000)
        .message,
    ).toMatch(
      /its certificate is not trusted \(SELF_SIGNED_CERT_IN_CHAIN\); pass the CA that signed it with --ca-file, MESHCTL_CA_FILE or caFile:/,
    );
    expect(errorFromNetwork(Object.assign(new Error('wrong version'), { code: 'EPROTO' }), conn, 1000).message).toMatch(
      /TLS handshake failed; does it listen on http:\/\//,
    );
    expect(
      errorFromNetwork(Object.assign(new Error('t'), { code: 'UND_ERR_HEADERS_TIMEOUT' }), conn, 30_000).message,
    ).toMatch(/no answer within 30 s/);
  });
});
