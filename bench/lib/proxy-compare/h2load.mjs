// h2load (nghttp2's HTTP/2 load generator, Debian package nghttp2-client) as
// the client of bench/proxy-compare.mjs's HTTP/2 paths: cleartext HTTP/2 with
// prior knowledge to an http:// URL, `clients` connections with `streams`
// concurrent streams each. Its own report gives the counts; the per-request
// log (--log-file: start µs, status, µs to the end of the response) gives
// p50 and p99, which its summary does not.
import { execFile, execFileSync } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { percentile } from '../fixed-rate-load.mjs';
import { findBinary } from '../system-proxies.mjs';

/** The Debian package with h2load. */
export const H2LOAD_PACKAGE = 'nghttp2-client';

/** The path of h2load, or undefined. */
export const findH2load = () => findBinary('h2load');

/** `h2load --version` reduced to the nghttp2 version, or "not installed". */
export function h2loadVersion() {
  const bin = findH2load();
  if (!bin) return 'not installed';
  try {
    return /nghttp2\/(\S+)/.exec(readVersion(bin))?.[1] ?? 'unknown';
  } catch {
    return 'unknown';
  }
}
function readVersion(bin) {
  return execFileSync(bin, ['--version'], { encoding: 'utf8', timeout: 5000 });
}

/** The numbers of h2load's summary that matter here; throws, with its output, when it has none. */
export function parseH2load(text) {
  const req =
    /requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, (\d+) failed, (\d+) errored, (\d+) timeout/.exec(
      text,
    );
  const codes = /status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx/.exec(text);
  const fin = /finished in ([\d.]+)(ms|s), ([\d.]+) req\/s/.exec(text);
  if (!req || !codes || !fin) throw new Error(`h2load printed no summary:\n${text.slice(-2000)}`);
  const [total, , done, , failed, errored, timeout] = req.slice(1).map(Number);
  const [ok, c3, c4, c5] = codes.slice(1).map(Number);
  return {
    total,
    done,
    ok,
    // Not from done - ok: in a timed run (-D) the two are counted at slightly different moments.
    errors: failed + errored + timeout + c3 + c4 + c5,
    rps: Number(fin[3]),
  };
}

/**
 * One h2load run against `url` (with `authority` as :authority when given):
 * `amount` requests, or `seconds` after `warmupS` of warm-up. Resolves to
 * `{ n, errors, rps, p50, p99 }` (latencies in ms, from the per-request log).
 */
export function runH2load({ url, authority, clients, streams, amount, seconds, warmupS = 0, logFile }) {
  const bin = findH2load();
  if (!bin) throw new Error(`h2load is not installed (Debian: apt-get install -y ${H2LOAD_PACKAGE})`);
  const args = ['-c', String(clients), '-m', String(streams), '--log-file', logFile];
  if (amount) args.push('-n', String(amount));
  else args.push('-D', String(seconds), ...(warmupS > 0 ? ['--warm-up-time', String(warmupS)] : []));
  if (authority) args.push('-H', `:authority: ${authority}`);
  args.push(url);
  const timeout = ((seconds ?? 10) + warmupS + 30) * 1000;
  return new Promise((resolve, reject) => {
    execFile(bin, args, { encoding: 'utf8', timeout, maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
      try {
        const s = parseH2load(`${stdout}\n${stderr}`);
        const lat = readFileSync(logFile, 'utf8')
          .split('\n')
          .filter(Boolean)
          .map((l) => Number(l.split('\t')[2]) / 1000);
        rmSync(logFile, { force: true });
        const sorted = Float64Array.from(lat).sort();
        resolve({ n: s.total, errors: s.errors, rps: s.rps, p50: percentile(sorted, 50), p99: percentile(sorted, 99) });
      } catch (e) {
        reject(
          err ? new Error(`h2load ${args.join(' ')} failed: ${err.message}\n${stdout}${stderr}`.slice(0, 4000)) : e,
        );
      }
    });
  });
}
