import { get, type IncomingMessage } from 'node:http';

/** One server-sent event. */
export interface SseEvent {
  event: string;
  data: any;
}

/** A server-sent event stream read from a loopback port: every event so far, parsed as JSON. */
export interface SseReader {
  readonly status: number;
  readonly events: SseEvent[];
  close(): void;
}

/** Opens `path` on `port` and collects its events (`event:` and one `data:` line of JSON each) until closed. */
export async function openSse(port: number, path: string): Promise<SseReader> {
  const res = await new Promise<IncomingMessage>((resolve, reject) => {
    const req = get({ host: '127.0.0.1', port, path, agent: false }, resolve);
    req.on('error', reject);
  });
  const events: SseEvent[] = [];
  let text = '';
  res.setEncoding('utf8');
  res.on('data', (chunk: string) => {
    text += chunk;
    for (let i = text.indexOf('\n\n'); i >= 0; i = text.indexOf('\n\n')) {
      const block = text.slice(0, i);
      text = text.slice(i + 2);
      const event = /^event: (.*)$/m.exec(block)?.[1];
      const data = /^data: (.*)$/m.exec(block)?.[1];
      if (event !== undefined && data !== undefined) events.push({ event, data: JSON.parse(data) });
    }
  });
  res.on('error', () => undefined);
  return { status: res.statusCode ?? 0, events, close: () => res.destroy() };
}
