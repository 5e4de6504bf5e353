#!/usr/bin/env node
// A fake database for the managed failover tests: its whole state is one
// file, "ROLE OFFSET" (such as "primary 100"), which the agent's exec check
// reads with `cat` (a missing file: the database is down). The failover
// commands run this script: promote writes primary, demote and rejoin write
// replica (at the same offset), and each appends what it was run with
// (MESHLET_TERM, MESHLET_PRIMARY) to a log the test reads.
import { appendFileSync, readFileSync, writeFileSync } from 'node:fs';

const [action, stateFile, logFile] = process.argv.slice(2);
if (!action || !stateFile || !logFile) {
  process.stderr.write('usage: fake-db-ctl.mjs promote|demote|rejoin STATE_FILE LOG_FILE\n');
  process.exit(2);
}
let offset = '0';
try {
  offset = readFileSync(stateFile, 'utf8').trim().split(/\s+/)[1] ?? '0';
} catch {
  // down: comes back at offset 0
}
const role = action === 'promote' ? 'primary' : 'replica';
writeFileSync(stateFile, `${role} ${offset}\n`);
const e = process.env;
appendFileSync(
  logFile,
  `${JSON.stringify({ action, instance: e.MESHLET_INSTANCE, service: e.MESHLET_SERVICE, term: Number(e.MESHLET_TERM), primary: e.MESHLET_PRIMARY })}\n`,
);
process.stdout.write(`${action}: now ${role}\n`);
