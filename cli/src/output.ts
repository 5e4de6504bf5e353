import { stringify as toYaml } from 'yaml';
import type { OutStream } from './cli-io.js';
import { usageError } from './cli-error.js';
import type { Colors } from './colors.js';
import type { Resource } from './resources.js';
import { formatTable } from './table.js';

/** How a command prints what the API answered. */
export type OutputFormat = 'table' | 'json' | 'yaml';

const FORMATS: readonly OutputFormat[] = ['table', 'json', 'yaml'];

/** Checks `-o`: `table` (the default), `json` or `yaml`. */
export function parseOutputFormat(value: string | undefined, command: string): OutputFormat {
  if (value === undefined) return 'table';
  const v = value.toLowerCase() as OutputFormat;
  if (!FORMATS.includes(v)) throw usageError(`-o ${value}: use one of ${FORMATS.join(', ')}`, command);
  return v;
}

/** The API's JSON as it came, in JSON (indented) or YAML. */
export function renderDocument(format: 'json' | 'yaml', data: unknown): string {
  // lineWidth 0: never fold a long reason over several lines.
  return format === 'json' ? `${JSON.stringify(data, null, 2)}\n` : toYaml(data, { lineWidth: 0 });
}

/** Width a table may take on `out`: the terminal's, or unlimited for a pipe or file. */
export function tableWidth(out: OutStream): number | undefined {
  return out.isTTY ? out.columns || 80 : undefined;
}

/** Items of a resource as a table fitted to `out`; `now` (ms since the epoch) is for ages. */
export function renderTable(
  resource: Resource,
  items: readonly Record<string, unknown>[],
  out: OutStream,
  colors: Colors,
  now: number,
): string {
  const width = tableWidth(out);
  const paint = resource.paint;
  return formatTable(
    resource.columns,
    items.map((i) => resource.row(i, now)),
    {
      ...(width === undefined ? {} : { maxWidth: width }),
      ...(resource.flexible ? { flexible: resource.flexible } : {}),
      ...(paint ? { paint: (col: number, text: string) => paint(colors, col, text) } : {}),
      paintHeader: colors.bold,
    },
  );
}
