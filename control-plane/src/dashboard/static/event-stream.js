// Follows GET /v1/events/stream. EventSource cannot send an Authorization
// header, so this reads the server-sent events from fetch() with a stream
// reader, and reconnects after the last event seen (Last-Event-ID), as
// EventSource would.

import { authHeaders, errorOf, Unauthorized } from './api-client.js';

const RETRY_MIN_MS = 1000;
const RETRY_MAX_MS = 10_000;

/**
 * Parses one server-sent event block (the lines between blank lines).
 * Returns `{id, event, data}`, or undefined for a comment-only block such as
 * the server's keep-alive.
 */
export function parseEventBlock(block) {
  let id;
  let event = 'message';
  const data = [];
  for (const line of block.split(/\r?\n/)) {
    if (line === '' || line.startsWith(':')) continue;
    const colon = line.indexOf(':');
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'id') id = value;
    else if (field === 'event') event = value;
    else if (field === 'data') data.push(value);
  }
  return data.length === 0 ? undefined : { id, event, data: data.join('\n') };
}

/**
 * A live follower of the event stream. `onEvent(meshEvent)` gets each event;
 * `onState(state, detail)` gets `connecting`, `live`, `down` (it will retry),
 * or `unauthorized` (it stopped: a token is needed).
 */
export class EventStream {
  #afterSeq;
  #onEvent;
  #onState;
  #abort;
  #running = false;

  /** `afterSeq`: the last event already shown; the stream resumes after it. */
  constructor({ afterSeq, onEvent, onState }) {
    this.#afterSeq = afterSeq;
    this.#onEvent = onEvent;
    this.#onState = onState;
  }

  /** Starts following (again), after the last event seen. */
  start(afterSeq = this.#afterSeq) {
    this.#afterSeq = Math.max(this.#afterSeq, afterSeq);
    if (this.#running) return;
    this.#running = true;
    this.#abort = new AbortController();
    void this.#loop(this.#abort.signal);
  }

  /** Stops following. */
  stop() {
    this.#running = false;
    this.#abort?.abort();
  }

  async #loop(signal) {
    let delay = RETRY_MIN_MS;
    while (!signal.aborted) {
      this.#onState('connecting');
      try {
        await this.#follow(signal, () => {
          delay = RETRY_MIN_MS;
        });
        if (signal.aborted) return;
        this.#onState('down', 'the event stream ended');
      } catch (e) {
        if (signal.aborted) return;
        if (e instanceof Unauthorized) {
          this.#running = false;
          this.#onState('unauthorized', e.message);
          return;
        }
        this.#onState('down', e instanceof Error ? e.message : String(e));
      }
      await sleep(delay, signal);
      delay = Math.min(delay * 2, RETRY_MAX_MS);
    }
  }

  async #follow(signal, connected) {
    const after = String(this.#afterSeq);
    const res = await fetch(`/v1/events/stream?after=${after}`, {
      headers: { accept: 'text/event-stream', 'last-event-id': after, ...authHeaders() },
      cache: 'no-store',
      signal,
    });
    if (!res.ok) throw await errorOf(res);
    if (!res.body) throw new Error('this browser cannot read a streamed answer');
    connected();
    this.#onState('live');
    const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = '';
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buffer += value;
      let end;
      while ((end = buffer.search(/\r?\n\r?\n/)) !== -1) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end).replace(/^\r?\n\r?\n/, '');
        const msg = parseEventBlock(block);
        if (!msg || msg.event !== 'mesh-event') continue;
        const event = JSON.parse(msg.data);
        if (typeof event.seq === 'number') this.#afterSeq = Math.max(this.#afterSeq, event.seq);
        this.#onEvent(event);
      }
    }
  }
}

function sleep(ms, signal) {
  return new Promise((resolve) => {
    const t = setTimeout(resolve, ms);
    signal.addEventListener(
      'abort',
      () => {
        clearTimeout(t);
        resolve();
      },
      { once: true },
    );
  });
}
