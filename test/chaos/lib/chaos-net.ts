import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';

/**
 * Test-made network namespaces joined by a bridge: one "host" per
 * namespace, each with its own address on one /24, its own loopback and its
 * own port space (every host can use the same ports), and its own nftables
 * for faults (see `faults.ts`). The test process stays in the root
 * namespace, on the bridge's address, and reaches every host; faults are
 * only ever made between hosts, never towards it.
 *
 * Needs root and `ip` (iproute2); `nft` for the faults. Each network takes
 * a free index (a subnet `10.254.<index>.0/24`, namespaces `mlc<index>-*`,
 * links `mlc<index>…`), held by this process's pid in {@link LOCKS}, so
 * that several test processes may run networks at once; everything is
 * removed by {@link ChaosNet.destroy}, and what a killed earlier run left
 * behind under an index is removed when the index is taken again.
 */
export class ChaosNet {
  /** Host addresses are `${subnet}.N`; the bridge (the test process) is `${subnet}.1`. */
  readonly subnet: string;
  readonly #index: number;
  readonly #bridge: string;
  readonly #hosts = new Map<string, ChaosHost>();

  private constructor(index: number) {
    this.#index = index;
    this.subnet = `10.254.${index}`;
    this.#bridge = `mlc${index}br`;
  }

  /** The address of the test process on the bridge. */
  get runnerIp(): string {
    return `${this.subnet}.1`;
  }

  /** Takes a free index (removing what a dead process left under it) and makes the bridge. */
  static create(): ChaosNet {
    requireTools();
    const index = takeIndex();
    sweep(index);
    const net = new ChaosNet(index);
    ip(['link', 'add', net.#bridge, 'type', 'bridge']);
    ip(['addr', 'add', `${net.runnerIp}/24`, 'dev', net.#bridge]);
    ip(['link', 'set', net.#bridge, 'up']);
    return net;
  }

  /** A new host: a namespace `mlc<index>-<name>` with loopback up and `eth0` on the bridge at the next address. */
  host(name: string): ChaosHost {
    if (this.#hosts.has(name)) throw new Error(`chaos host ${name} exists already`);
    if (!/^[a-z0-9-]{1,12}$/.test(name)) throw new Error(`chaos host name ${name}: use up to 12 of a-z, 0-9 and -`);
    const n = this.#hosts.size + 2;
    if (n > 254) throw new Error('at most 253 chaos hosts');
    const ns = `mlc${this.#index}-${name}`;
    const veth = `mlc${this.#index}v${n}`;
    ip(['netns', 'add', ns]);
    ip(['link', 'add', veth, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns]);
    ip(['link', 'set', veth, 'master', this.#bridge, 'up']);
    ip(['-n', ns, 'addr', 'add', `${this.subnet}.${n}/24`, 'dev', 'eth0']);
    ip(['-n', ns, 'link', 'set', 'eth0', 'up']);
    ip(['-n', ns, 'link', 'set', 'lo', 'up']);
    const host: ChaosHost = {
      name,
      ns,
      ip: `${this.subnet}.${n}`,
      wrap: (command, args) => ['ip', ['netns', 'exec', ns, command, ...args]],
    };
    this.#hosts.set(name, host);
    return host;
  }

  /** Every host made so far. */
  get hosts(): ChaosHost[] {
    return [...this.#hosts.values()];
  }

  /** Removes every namespace and the bridge (their veth pairs go with them). Processes must be stopped first. */
  destroy(): void {
    for (const h of this.#hosts.values()) ip(['netns', 'del', h.ns], true);
    ip(['link', 'del', this.#bridge], true);
    this.#hosts.clear();
    rmSync(`${LOCKS}/${this.#index}`, { force: true });
  }
}

/** One host of a {@link ChaosNet}. */
export interface ChaosHost {
  name: string;
  /** Its network namespace. */
  ns: string;
  /** Its address on the bridge. */
  ip: string;
  /** `command args` as run inside the namespace (`ip netns exec`, which execs: the pid is the command's own). */
  wrap(command: string, args: readonly string[]): [string, string[]];
}

function ip(args: string[], quiet = false): void {
  try {
    execFileSync('ip', args, { stdio: ['ignore', 'pipe', 'pipe'], timeout: 10_000 });
  } catch (e) {
    if (quiet) return;
    const err = e as Error & { stderr?: Buffer };
    throw new Error(`ip ${args.join(' ')} failed: ${err.stderr?.toString().trim() ?? err.message}`, { cause: e });
  }
}

/** Where each taken index names the pid of the process that holds it. */
export const LOCKS = '/run/meshlet-chaos';

/** The first index from 2 to 250 no live process holds, now held by this one (created exclusively: no race). */
function takeIndex(): number {
  mkdirSync(LOCKS, { recursive: true });
  for (let index = 2; index <= 250; index++) {
    const file = `${LOCKS}/${index}`;
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        writeFileSync(file, String(process.pid), { flag: 'wx' });
        return index;
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      }
      // Held: by a live process (next index), or by a dead one (its lock goes, and the next attempt takes it).
      let holder: number;
      try {
        holder = Number(readFileSync(file, 'utf8'));
      } catch {
        holder = 0;
      }
      if (holder > 0 && alive(holder)) break;
      rmSync(file, { force: true });
    }
  }
  throw new Error(`no free chaos network index: every one in ${LOCKS} is held by a live process`);
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Removes the namespaces and links of `index` left by a run that was killed. */
function sweep(index: number): void {
  const list = execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' });
  for (const line of list.split('\n')) {
    const ns = line.split(' ')[0];
    if (!ns?.startsWith(`mlc${index}-`)) continue;
    // Processes a killed run left inside go first, or the namespace outlives its name.
    const pids = execFileSync('ip', ['netns', 'pids', ns], { encoding: 'utf8' }).split('\n').filter(Boolean);
    for (const pid of pids) {
      try {
        process.kill(Number(pid), 'SIGKILL');
      } catch {
        // gone already
      }
    }
    ip(['netns', 'del', ns], true);
  }
  const links = execFileSync('ip', ['-o', 'link', 'show'], { encoding: 'utf8' });
  for (const m of links.matchAll(new RegExp(`^\\d+: (mlc${index}[a-z][a-z0-9]*)[@:]`, 'gm')))
    ip(['link', 'del', m[1] as string], true);
}

/** Throws, naming the fix, when this process cannot make namespaces. */
function requireTools(): void {
  if (process.getuid?.() !== 0)
    throw new Error('the chaos suite makes network namespaces and nftables rules: run it as root');
  for (const [tool, flag, pkg] of [
    ['ip', '-V', 'iproute2'],
    ['nft', '-v', 'nftables'],
  ] as const) {
    try {
      execFileSync(tool, [flag], { stdio: 'ignore' });
    } catch {
      throw new Error(`the chaos suite needs \`${tool}\`: apt-get install -y ${pkg} (CI's .ci/run does)`);
    }
  }
}
