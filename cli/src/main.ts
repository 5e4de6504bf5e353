#!/usr/bin/env node
import { homedir } from 'node:os';
import { systemClock } from '@meshlet/shared/clock';
import { runCli } from './run-cli.js';

/** Ctrl-C ends `events --follow` cleanly (status 0); a second one ends the process as usual. */
function interrupt(): AbortSignal {
  const controller = new AbortController();
  process.once('SIGINT', () => {
    controller.abort();
    process.once('SIGINT', () => process.exit(130));
  });
  return controller.signal;
}

// `meshctl get events | head` closes the pipe early: that is not an error.
process.stdout.on('error', (e: NodeJS.ErrnoException) => {
  if (e.code === 'EPIPE') process.exit(0);
  throw e;
});

runCli(process.argv.slice(2), {
  stdout: process.stdout,
  stderr: process.stderr,
  stdin: process.stdin,
  env: process.env,
  homedir: homedir(),
  random: Math.random,
  clock: systemClock,
  interrupt,
}).then(
  (code) => {
    process.exitCode = code;
  },
  (e: unknown) => {
    process.stderr.write(`meshctl: unexpected error (a bug; please report it): ${(e as Error).stack ?? String(e)}\n`);
    process.exitCode = 1;
  },
);
