import { describe, expect, it } from 'vitest';
import { SseParser } from './sse-parser.js';

describe('SseParser', () => {
  it('reads the meshlet event stream: id, event, data, with keep-alive comments between', () => {
    const p = new SseParser();
    const events = p.push(
      ': connected\n\nid: 7\nevent: mesh-event\ndata: {"seq":7}\n\n: keep-alive\n\nid: 8\nevent: mesh-event\ndata: {"seq":8}\n\n',
    );
    expect(events).toEqual([
      { id: '7', event: 'mesh-event', data: '{"seq":7}' },
      { id: '8', event: 'mesh-event', data: '{"seq":8}' },
    ]);
  });

  it('completes an event split anywhere across chunks, CRLF split too', () => {
    const text = 'id: 1\r\nevent: mesh-event\r\ndata: {"a":"é"}\r\n\r\nid: 2\rdata: x\r\r';
    for (let cut = 0; cut <= text.length; cut++) {
      const p = new SseParser();
      const got = [...p.push(text.slice(0, cut)), ...p.push(text.slice(cut))];
      expect(got, `cut at ${cut}`).toEqual([
        { id: '1', event: 'mesh-event', data: '{"a":"é"}' },
        { id: '2', event: 'message', data: 'x' },
      ]);
    }
  });

  it('joins data lines, drops events without data and a leading byte-order mark, keeps the last id', () => {
    const p = new SseParser();
    expect(p.push('\ufeffid: 3\nevent: x\n\ndata: a\ndata:b\ndata\n\n')).toEqual([
      { id: '3', event: 'message', data: 'a\nb\n' },
    ]);
  });

  it('waits for the blank line before dispatching', () => {
    const p = new SseParser();
    expect(p.push('data: half')).toEqual([]);
    expect(p.push('\n')).toEqual([]);
    expect(p.push('\n')).toEqual([{ id: undefined, event: 'message', data: 'half' }]);
  });
});
