import pc from 'picocolors';
import type { OutStream } from './cli-io.js';

/** The few colours meshctl uses; identity functions when colour is off. */
export type Colors = Pick<ReturnType<typeof pc.createColors>, 'bold' | 'dim' | 'green' | 'yellow' | 'red' | 'cyan'>;

/**
 * Colour only for a terminal, and never when `NO_COLOR` is set to a
 * non-empty value (https://no-color.org): a pipe, a file or a CI log gets
 * plain text that scripts can parse.
 */
export function colorsFor(stream: OutStream, env: Readonly<Record<string, string | undefined>>): Colors {
  const enabled = stream.isTTY === true && !env.NO_COLOR;
  return pc.createColors(enabled);
}

/** The colour of an instance state: green when routed, yellow on doubt or probation, red when out. */
export function paintState(c: Colors, state: string): string {
  switch (state) {
    case 'healthy':
      return c.green(state);
    case 'suspect':
    case 'recovering':
      return c.yellow(state);
    case 'unhealthy':
      return c.red(state);
    case 'draining':
      return c.cyan(state);
    default:
      return c.dim(state);
  }
}
