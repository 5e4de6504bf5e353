import { request } from 'node:http';
import { request as httpsRequest } from 'node:https';

/** A plain HTTP answer. */
export interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
  json: () => any;
}

/**
 * Sends one request on a fresh connection. `path` may be an absolute URL,
 * which makes it an HTTP_PROXY style request, exactly what
 * `curl -x http://127.0.0.1:PORT http://hello/` sends. With `tls`, the
 * request goes over HTTPS, trusting `tls.ca` (or nothing, with
 * `rejectUnauthorized: false`).
 */
export function httpRequest(
  port: number,
  path: string,
  options: {
    method?: string;
    headers?: Record<string, string>;
    body?: string;
    timeoutMs?: number;
    /** The address to connect to; 127.0.0.1 by default. */
    host?: string;
    tls?: { ca?: string | Buffer; rejectUnauthorized?: boolean };
  } = {},
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    // An empty `host` header means: send none at all.
    const headers = { ...options.headers };
    const setHost = headers.host !== '';
    if (!setHost) delete headers.host;
    const send = options.tls ? httpsRequest : request;
    const req = send(
      {
        host: options.host ?? '127.0.0.1',
        port,
        path,
        method: options.method ?? 'GET',
        headers,
        setHost,
        agent: false,
        timeout: options.timeoutMs ?? 10_000,
        ...(options.tls ? { ca: options.tls.ca, rejectUnauthorized: options.tls.rejectUnauthorized ?? true } : {}),
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const body = Buffer.concat(chunks).toString('utf8');
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body, json: () => JSON.parse(body) });
        });
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error('request timed out')));
    req.on('error', reject);
    req.end(options.body);
  });
}

/** GET a JSON document from a loopback port. */
export async function getJson(port: number, path: string): Promise<any> {
  const a = await httpRequest(port, path);
  if (a.status !== 200) throw new Error(`GET ${path} on :${port} answered ${a.status}: ${a.body}`);
  return a.json();
}
