// bench/scale.mjs's command line, checked once into a frozen object, and the
// open-file limit it needs (one descriptor per simulated agent).
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';

/**
 * What --smoke stands for: every path of the script (one control plane and
 * three replicas on etcd, the swarm, health changes, the report) with 10
 * agents, 2 changes and short settling pauses, in a few seconds. The figures
 * mean nothing; a run that fails or times out does.
 */
const SMOKE = { agents: '10', changes: '2', procs: '1', replicas: '1,3', heap: 'off', pause: '0' };

/** The settling pauses of a measured run, and of a smoke run. */
const SETTLE = { baselineMs: 1500, loadedMs: 2000, beforeChangesMs: 1000, quietMs: 1000 };
const SMOKE_SETTLE = { baselineMs: 200, loadedMs: 300, beforeChangesMs: 0, quietMs: 300 };

/**
 * Parses `argv`; a bad value is reported with `log` and exits 2. `--help`
 * prints the `//` comment lines of `scriptFile` and exits 0.
 */
export function parseScaleOptions(argv, { root, scriptFile, log }) {
  const { values } = parseArgs({
    args: argv,
    options: {
      agents: { type: 'string', default: '100,1000,5000' },
      changes: { type: 'string', default: '20' },
      procs: { type: 'string', default: '2' },
      observations: { type: 'string', default: 'on' },
      json: { type: 'string' },
      seed: { type: 'string', default: '1' },
      'connect-batch': { type: 'string', default: '500' },
      'ready-timeout': { type: 'string' },
      'change-timeout': { type: 'string', default: '10000' },
      pause: { type: 'string', default: '100' },
      'heartbeat-timeout-ms': { type: 'string' },
      heap: { type: 'string', default: 'on' },
      'control-plane': { type: 'string' },
      replicas: { type: 'string', default: '1' },
      smoke: { type: 'boolean', default: false },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    process.stdout.write(
      readFileSync(scriptFile, 'utf8')
        .split('\n')
        .filter((l) => l.startsWith('//'))
        .map((l) => l.slice(3))
        .join('\n') + '\n',
    );
    process.exit(0);
  }
  if (values.smoke) Object.assign(values, SMOKE);
  function int(name, lo, hi, raw = values[name]) {
    const n = Number(raw);
    if (!Number.isInteger(n) || n < lo || n > hi) {
      log(`--${name} must be an integer in ${lo}..${hi}, got "${raw}"`);
      process.exit(2);
    }
    return n;
  }
  function onOff(name) {
    if (values[name] !== 'on' && values[name] !== 'off') {
      log(`--${name} must be on or off, got "${values[name]}"`);
      process.exit(2);
    }
    return values[name] === 'on';
  }
  const sizes = values.agents.split(',').map((s) => int('agents', 10, 45000, s.trim()));
  const cpMain = resolve(values['control-plane'] ?? join(root, 'control-plane', 'dist', 'main.js'));
  if (!existsSync(cpMain)) {
    log(`${cpMain} is missing: run \`npm run build\` first`);
    process.exit(2);
  }
  const readyTimeoutS = values['ready-timeout'] === undefined ? undefined : int('ready-timeout', 1, 3600);
  return Object.freeze({
    smoke: values.smoke,
    sizes,
    replicaCounts: [...new Set(values.replicas.split(',').map((s) => int('replicas', 1, 5, s.trim())))],
    changes: int('changes', 1, 1000),
    procs: int('procs', 1, 64),
    observations: onOff('observations'),
    heap: onOff('heap'),
    seed: int('seed', 0, 2 ** 31),
    connectBatch: int('connect-batch', 1, 10000),
    changeTimeoutMs: int('change-timeout', 100, 600_000),
    pauseMs: int('pause', 0, 60_000),
    heartbeatTimeoutMs:
      values['heartbeat-timeout-ms'] === undefined ? undefined : int('heartbeat-timeout-ms', 100, 600_000),
    readyTimeoutMs: (n) => (readyTimeoutS === undefined ? 60_000 + 20 * n : readyTimeoutS * 1000),
    settle: Object.freeze(values.smoke ? SMOKE_SETTLE : SETTLE),
    cpMain,
    json: values.json,
  });
}

function openFileLimits() {
  const m = /^Max open files\s+(\S+)\s+(\S+)/m.exec(readFileSync('/proc/self/limits', 'utf8'));
  const num = (s) => (s === 'unlimited' ? Infinity : Number(s));
  return m ? { soft: num(m[1]), hard: num(m[2]) } : { soft: Infinity, hard: Infinity };
}

/**
 * Makes sure `need` descriptors may be open. Node raises its soft limit to
 * the hard one at start, so a shortfall here means the hard limit is too low:
 * only a shell running as root (or with CAP_SYS_RESOURCE) can lift it, hence
 * the re-run of `scriptFile` under bash (this process then exits with its status).
 */
export function ensureOpenFiles(need, scriptFile, log) {
  const { soft, hard } = openFileLimits();
  if (soft >= need) return;
  const target = Math.max(need, 65536);
  if (process.env.MESHLET_SCALE_REEXEC) {
    log(
      `${need} open files are needed (N + 512) but the limit is still ${soft} (hard ${hard}): raise the hard limit (ulimit -Hn as root, prlimit, /etc/security/limits.conf) and run again`,
    );
    process.exit(2);
  }
  log(
    `${need} open files are needed (N + 512) but the limit is ${soft} (hard ${hard}): re-running under bash -c 'ulimit -n ${target}; exec node ...'`,
  );
  const script = `ulimit -n ${target} || { echo "ulimit -n ${target} failed: raise the hard open-file limit (as root, prlimit, /etc/security/limits.conf) and run again" >&2; exit 2; }; exec "$@"`;
  const r = spawnSync(
    'bash',
    ['-c', script, 'bench/scale.mjs', process.execPath, ...process.execArgv, scriptFile, ...process.argv.slice(2)],
    {
      stdio: 'inherit',
      env: { ...process.env, MESHLET_SCALE_REEXEC: '1' },
    },
  );
  process.exit(r.status ?? 1);
}
