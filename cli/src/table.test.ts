import { describe, expect, it } from 'vitest';
import { colorsFor } from './colors.js';
import { renderTable } from './output.js';
import { findResource } from './resources.js';
import { fitWidths, formatTable } from './table.js';
import { displayWidth, sanitize, truncate } from './text.js';

const HEADERS = ['ID', 'STATE', 'REASON'];
const ROWS = [
  ['hello-1', 'healthy', 'local health check passing'],
  ['hello-2', 'unhealthy', '2 of 2 callers see it failing (quorum 2); down for at least 5000 ms'],
];

describe('formatTable', () => {
  it('aligns columns with no borders and no trailing spaces, cutting nothing without a width', () => {
    expect(formatTable(HEADERS, ROWS)).toBe(
      [
        'ID        STATE       REASON',
        'hello-1   healthy     local health check passing',
        'hello-2   unhealthy   2 of 2 callers see it failing (quorum 2); down for at least 5000 ms',
        '',
      ].join('\n'),
    );
  });

  it('fits the width by cutting the widest column, ending the cut cell in …', () => {
    const out = formatTable(HEADERS, ROWS, { maxWidth: 50 });
    const lines = out.trimEnd().split('\n');
    for (const l of lines) expect(displayWidth(l)).toBeLessThanOrEqual(50);
    expect(lines[1]).toBe('hello-1   healthy     local health check passing');
    expect(lines[2]).toBe('hello-2   unhealthy   2 of 2 callers see it faili…');
    expect(displayWidth(lines[2] as string)).toBe(50);
  });

  it('cuts the free-text columns first, and the others only when that is not enough', () => {
    const rows = [['orders-primary-1', 'unhealthy', 'a long reason '.repeat(5)]];
    expect(formatTable(HEADERS, rows, { maxWidth: 50, flexible: [2] }).split('\n')[1]).toBe(
      'orders-primary-1   unhealthy   a long reason a lo…',
    );
    expect(formatTable(HEADERS, rows, { maxWidth: 30, flexible: [2] }).split('\n')[1]).toBe(
      'orders-…   unhealt…   a long …',
    );
  });

  it('cuts several long columns to the same cap and keeps short ones whole', () => {
    expect(fitWidths([4, 40, 30, 5], [4, 6, 6, 5], 50)).toEqual([4, 21, 20, 5]);
    expect(fitWidths([4, 10], [4, 6], 50)).toEqual([4, 10]);
    // Even the minimums do not fit: use them, and let the terminal wrap.
    expect(fitWidths([20, 20, 20], [6, 6, 6], 10)).toEqual([6, 6, 6]);
  });

  it('counts wide characters as two columns and never splits a grapheme', () => {
    expect(truncate('サービス名前', 7)).toBe('サービ…');
    expect(displayWidth(truncate('サービス名前', 7))).toBe(7);
    expect(truncate('e\u0301e\u0301e\u0301e\u0301', 3)).toBe('e\u0301e\u0301…');
    expect(truncate('short', 5)).toBe('short');
    const out = formatTable(['NAME', 'X'], [['日本', 'a']]);
    expect(out).toBe('NAME   X\n日本   a\n');
  });

  it('makes control characters from the server harmless', () => {
    expect(sanitize('ok\u001b]0;pwned\u0007\nnext')).toBe('ok ]0;pwned  next');
  });
});

describe('renderTable', () => {
  const instances = findResource('instances');
  if (!instances) throw new Error('no instances resource');
  const items = [{ id: 'hello-1', service: 'hello', state: 'unhealthy', tier: 0, zone: null, reason: 'x'.repeat(200) }];
  const NOW = Date.parse('2026-12-04T14:00:00.000Z');

  it('has no colours and cuts nothing in a pipe', () => {
    const out = renderTable(
      instances,
      items,
      { write: () => true, isTTY: false },
      colorsFor({ isTTY: false, write: () => true }, {}),
      NOW,
    );
    expect(out).not.toContain('\u001b[');
    expect(out).toContain('x'.repeat(200));
    expect(out.split('\n')[1]).toMatch(/^hello-1 {3}hello {5}unhealthy {3}0 {6}- {6}x+$/);
  });

  it('colours states and fits the width on a terminal, and NO_COLOR turns colour off', () => {
    const tty = { write: () => true, isTTY: true, columns: 60 };
    const out = renderTable(instances, items, tty, colorsFor(tty, {}), NOW);
    expect(out).toContain('\u001b[31munhealthy\u001b[39m');
    for (const l of out.trimEnd().split('\n')) expect(displayWidth(l)).toBeLessThanOrEqual(60);
    expect(out).toContain('…');
    const plain = renderTable(instances, items, tty, colorsFor(tty, { NO_COLOR: '1' }), NOW);
    expect(plain).not.toContain('\u001b[');
    expect(plain).toContain('…');
  });
});
