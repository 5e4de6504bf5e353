import { once } from 'node:events';
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import getPort from 'get-port';
import { describe, expect, it } from 'vitest';
// @ts-expect-error: a plain ES module of the benchmarks, without types
import { writePrivateFile } from '../bench/lib/join-credentials.mjs';
// @ts-expect-error: a plain ES module of the benchmarks, without types
import { until } from '../bench/lib/scale/control-planes.mjs';
// @ts-expect-error: a plain ES module of the benchmarks, without types
import { parseH2load } from '../bench/lib/proxy-compare/h2load.mjs';

const ctx = { group: { assertAlive: () => undefined } };

describe("the scale benchmark's until()", () => {
  it('waits through fetch errors for a server that is not listening yet', async () => {
    const port = await getPort();
    const server = createServer((_req, res) => res.end('ok'));
    let tries = 0;
    const waited = until(
      ctx,
      'the server to answer',
      async () => {
        tries += 1;
        if (tries === 3) server.listen(port, '127.0.0.1'); // it comes up while we poll
        return (await fetch(`http://127.0.0.1:${port}/`)).ok;
      },
      10_000,
      20,
    );
    await expect(waited).resolves.toBeUndefined();
    expect(tries).toBeGreaterThanOrEqual(3);
    server.close();
    await once(server, 'close');
  });

  it('still fails at once on an error of the check itself, and names the last fetch error on a timeout', async () => {
    await expect(
      until(
        ctx,
        'x',
        () => {
          throw new Error('12 agents could not connect');
        },
        10_000,
      ),
    ).rejects.toThrow('12 agents could not connect');
    const port = await getPort();
    await expect(until(ctx, 'nothing', () => fetch(`http://127.0.0.1:${port}/`), 200, 20)).rejects.toThrow(
      /timed out after 200 ms waiting for nothing \(last: fetch failed: .*ECONNREFUSED/,
    );
  });
});

describe("the benchmarks' files holding credentials", () => {
  it('an agent config with a credential is readable by its owner only (0600), even over an existing file', () => {
    const dir = mkdtempSync(join(tmpdir(), 'meshlet-bench-lib-'));
    try {
      const fresh = writePrivateFile(join(dir, 'agent.yaml'), 'controlPlane: { joinToken: mjc_x }\n');
      expect(statSync(fresh).mode & 0o777).toBe(0o600);
      const existing = join(dir, 'old.yaml');
      writeFileSync(existing, 'x', { mode: 0o644 });
      writePrivateFile(existing, 'controlPlane: { joinToken: mjc_x }\n');
      expect(statSync(existing).mode & 0o777).toBe(0o600);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("h2load's summary, as the HTTP/2 paths of proxy-compare read it", () => {
  const summary = (requests: string, codes: string) =>
    `finished in 5.00s, 19068.00 req/s, 19.28MB/s\nrequests: ${requests}\nstatus codes: ${codes}\n`;

  it('counts failed, errored and timed-out requests and every non-2xx answer as errors', () => {
    expect(
      parseH2load(
        summary(
          '100 total, 100 started, 100 done, 90 succeeded, 4 failed, 3 errored, 1 timeout',
          '90 2xx, 0 3xx, 1 4xx, 1 5xx',
        ),
      ),
    ).toMatchObject({ total: 100, ok: 90, errors: 10, rps: 19068 });
  });

  it('never counts a negative error: a timed run may count more 2xx answers than requests done', () => {
    expect(
      parseH2load(
        summary(
          '76272 total, 76272 started, 76272 done, 76284 succeeded, 0 failed, 0 errored, 0 timeout',
          '76284 2xx, 0 3xx, 0 4xx, 0 5xx',
        ),
      ).errors,
    ).toBe(0);
  });

  it('fails with the output when h2load printed no summary (a refused connection, say)', () => {
    expect(() => parseH2load('client could not connect to host')).toThrow(/h2load printed no summary/);
  });
});
