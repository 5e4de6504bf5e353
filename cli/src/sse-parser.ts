/** One server-sent event. */
export interface ServerSentEvent {
  /** The `id:` field, when the event had one. */
  id: string | undefined;
  /** The `event:` field; `message` when absent. */
  event: string;
  /** The `data:` lines, joined with `\n`. */
  data: string;
}

/**
 * Incremental `text/event-stream` parser (the WHATWG HTML "event stream
 * interpretation"): lines end in CR, LF or CRLF, even across chunk
 * boundaries; `:` starts a comment (keep-alives); a blank line dispatches the
 * event; an event without data is dropped. `retry:` is ignored: meshctl keeps
 * its own backoff. A meshlet stream is simple enough that a library for this
 * would be larger than the parser.
 */
export class SseParser {
  #buffer = '';
  #id: string | undefined;
  #event = '';
  #data: string[] = [];
  #hasId = false;
  /** True until the first line: a leading byte-order mark is dropped. */
  #start = true;

  /** The last chunk ended in CR: a LF starting the next one belongs to it (CRLF split in two). */
  #skipLf = false;

  /** Feeds decoded text; returns the events it completed. */
  push(chunk: string): ServerSentEvent[] {
    let text = chunk;
    if (this.#skipLf && text.startsWith('\n')) text = text.slice(1);
    this.#skipLf = false;
    text = this.#buffer + text;
    if (this.#start && text.length > 0) {
      if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
      this.#start = false;
    }
    const out: ServerSentEvent[] = [];
    let from = 0;
    for (;;) {
      const cr = text.indexOf('\r', from);
      const lf = text.indexOf('\n', from);
      if (cr === -1 && lf === -1) break;
      const end = cr === -1 || (lf !== -1 && lf < cr) ? lf : cr;
      const line = text.slice(from, end);
      if (end === cr && cr === text.length - 1) this.#skipLf = true;
      from = end + (end === cr && text[cr + 1] === '\n' ? 2 : 1);
      const e = this.#line(line);
      if (e) out.push(e);
    }
    this.#buffer = text.slice(from);
    return out;
  }

  #line(line: string): ServerSentEvent | undefined {
    if (line === '') return this.#dispatch();
    if (line.startsWith(':')) return undefined;
    const colon = line.indexOf(':');
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    switch (field) {
      case 'data':
        this.#data.push(value);
        break;
      case 'event':
        this.#event = value;
        break;
      case 'id':
        if (!value.includes('\0')) {
          this.#id = value;
          this.#hasId = true;
        }
        break;
      default:
        // `retry` and unknown fields.
        break;
    }
    return undefined;
  }

  #dispatch(): ServerSentEvent | undefined {
    const data = this.#data;
    const event = this.#event || 'message';
    this.#data = [];
    this.#event = '';
    if (data.length === 0) return undefined;
    // The last event id persists across events until a new `id:` line, as EventSource keeps it.
    return { id: this.#hasId ? this.#id : undefined, event, data: data.join('\n') };
  }
}
