import { displayWidth, padEnd, truncate } from './text.js';

/** Options of {@link formatTable}. */
export interface TableOptions {
  /** Fit the table in this many columns, cutting long cells with `…`; absent: never cut (output to a pipe or a file). */
  maxWidth?: number;
  /** Colours a cell after it was cut and before it is padded, so escape codes never count as width. */
  paint?: (column: number, text: string) => string;
  /** Colours the header line's cells. */
  paintHeader?: (text: string) => string;
  /** Spaces between columns. */
  gap?: number;
  /** Columns cut first (free text such as reasons): the others keep their width while these can give way. */
  flexible?: readonly number[];
}

/** No column is cut below this width (or its header's, or its own widest cell, whichever is smallest). */
const MIN_COLUMN = 6;

/**
 * Column widths that fit `budget`: columns narrower than a cap keep their
 * width, wider ones are cut to the cap, and the largest cap that fits is
 * chosen. Cutting only the widest columns keeps short columns (state,
 * tier, versions) whole and gives the space to the long ones (reasons,
 * NACK texts). When even the minimum widths do not fit, they are used and
 * lines wrap.
 */
export function fitWidths(natural: readonly number[], minimum: readonly number[], budget: number): number[] {
  const total = (cap: number) => natural.reduce((sum, w, i) => sum + Math.max(minimum[i] ?? 0, Math.min(w, cap)), 0);
  const widest = Math.max(0, ...natural);
  if (total(widest) <= budget) return [...natural];
  let lo = 0;
  let hi = widest;
  while (lo < hi) {
    const mid = Math.ceil((lo + hi) / 2);
    if (total(mid) <= budget) lo = mid;
    else hi = mid - 1;
  }
  const widths = natural.map((w, i) => Math.max(minimum[i] ?? 0, Math.min(w, lo)));
  // Hand the columns left over by the integer cap to the cut columns, left to right.
  let spare = budget - widths.reduce((a, b) => a + b, 0);
  for (let i = 0; i < widths.length && spare > 0; i++) {
    const w = widths[i] as number;
    const n = natural[i] as number;
    if (w < n) {
      const add = Math.min(spare, n - w);
      widths[i] = w + add;
      spare -= add;
    }
  }
  return widths;
}

/**
 * Renders rows as kubectl does: a header line, columns left-aligned and
 * separated by spaces, no borders and no trailing spaces. Cells are plain
 * text (already sanitised); widths are terminal columns.
 */
export function formatTable(
  headers: readonly string[],
  rows: readonly (readonly string[])[],
  options: TableOptions = {},
): string {
  const gap = options.gap ?? 3;
  const natural = headers.map((h, i) => Math.max(displayWidth(h), ...rows.map((r) => displayWidth(r[i] ?? ''))));
  let widths = natural;
  if (options.maxWidth !== undefined) {
    const budget = options.maxWidth - gap * (headers.length - 1);
    const least = headers.map((h, i) => Math.min(natural[i] as number, Math.max(displayWidth(h), MIN_COLUMN)));
    // First only the free-text columns give way; if that is not enough, every column does.
    const flexible = new Set(options.flexible ?? []);
    const first = fitWidths(
      natural,
      natural.map((w, i) => (flexible.has(i) ? (least[i] as number) : w)),
      budget,
    );
    widths = first.reduce((a, b) => a + b, 0) <= budget ? first : fitWidths(natural, least, budget);
  }
  const line = (cells: readonly string[], paint: (column: number, text: string) => string) =>
    cells
      .map((cell, i) => {
        const text = paint(i, truncate(cell, widths[i] as number));
        // Width ignores escape codes, so a painted cell pads like a plain one.
        return i === cells.length - 1 ? text : padEnd(text, widths[i] as number);
      })
      .join(' '.repeat(gap))
      .trimEnd();
  const header = options.paintHeader ?? ((t: string) => t);
  const out = [
    line(headers, (_i, t) => header(t)),
    ...rows.map((r) =>
      line(
        headers.map((_h, i) => r[i] ?? ''),
        options.paint ?? ((_i, t) => t),
      ),
    ),
  ];
  return `${out.join('\n')}\n`;
}
