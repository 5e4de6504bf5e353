/**
 * The canonical JSON text of a JSON value: no whitespace, object keys sorted
 * by UTF-16 code unit at every depth, strings and numbers written as
 * `JSON.stringify` writes them. For JSON data this is the JSON
 * Canonicalization Scheme (RFC 8785), so a snapshot's checksum can be
 * recomputed by any JCS implementation, not only by meshlet.
 *
 * Written here rather than taken from a library because it is part of the
 * snapshot format: its output must never change with a dependency's upgrade.
 * Non-JSON values follow `JSON.stringify` (`toJSON` is used, `undefined`
 * members are dropped, `undefined` array items become `null`, and so do
 * functions and symbols).
 */
export function canonicalJson(value: unknown): string {
  if (typeof value === 'object' && value !== null && typeof (value as { toJSON?: unknown }).toJSON === 'function') {
    value = (value as { toJSON: () => unknown }).toJSON();
  }
  if (Array.isArray(value))
    return `[${value.map((item) => (isSkipped(item) ? 'null' : canonicalJson(item))).join(',')}]`;
  if (typeof value === 'object' && value !== null) {
    const members: string[] = [];
    for (const key of Object.keys(value).sort()) {
      const member = (value as Record<string, unknown>)[key];
      if (isSkipped(member)) continue;
      members.push(`${JSON.stringify(key)}:${canonicalJson(member)}`);
    }
    return `{${members.join(',')}}`;
  }
  const text = JSON.stringify(value) as string | undefined;
  if (text === undefined) throw new TypeError(`${typeof value} is not JSON data`);
  return text;
}

const isSkipped = (v: unknown): boolean => v === undefined || typeof v === 'function' || typeof v === 'symbol';
