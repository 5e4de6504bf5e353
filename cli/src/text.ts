import stringWidth from 'string-width';

const segmenter = new Intl.Segmenter();

/** Columns `text` takes in a terminal: wide East Asian characters and emoji count 2, combining marks 0. */
export function displayWidth(text: string): number {
  return stringWidth(text);
}

/**
 * Cuts `text` to at most `width` columns, ending in `…` when it had to cut.
 * Cuts between grapheme clusters, so an accented letter or an emoji with a
 * skin tone is never split in half.
 */
export function truncate(text: string, width: number): string {
  if (displayWidth(text) <= width) return text;
  if (width <= 0) return '';
  let out = '';
  let used = 0;
  for (const { segment } of segmenter.segment(text)) {
    const w = displayWidth(segment);
    if (used + w > width - 1) break;
    out += segment;
    used += w;
  }
  return `${out}…`;
}

/** Pads `text` with spaces to `width` columns. */
export function padEnd(text: string, width: number): string {
  const w = displayWidth(text);
  return w >= width ? text : text + ' '.repeat(width - w);
}

// C0 and C1 control characters, DEL included.
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/g;

/**
 * Makes a value sent by the server safe to print in a table or a message:
 * control characters become spaces. An instance's reason or an agent's NACK
 * text comes from far away, and an escape sequence in it must not move the
 * cursor, recolour or retitle the operator's terminal.
 */
export function sanitize(text: string): string {
  return text.replace(CONTROL, ' ');
}
