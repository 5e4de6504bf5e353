import { execFileSync } from 'node:child_process';

/**
 * Test-made network namespaces joined by a bridge: one "host" per
 * namespace, each with its own address on one /24, its own loopback and its
 * own port space (every host can use the same ports), and its own nftables
 * for faults (see `faults.ts`). The test process stays in the root
 * namespace, on the bridge's address, and reaches every host; faults are
 * only ever made between hosts, never towards it.
 *
 * Needs root and `ip` (iproute2); `nft` for the faults. Everything made
 * here is named with one prefix and removed by {@link ChaosNet.destroy}, and
 * what a killed earlier run left behind is removed by {@link ChaosNet.create}.
 */
export class ChaosNet {
  /** Host addresses are `${subnet}.N`; the bridge (the test process) is `${subnet}.1`. */
  readonly subnet: string;
  readonly #bridge: string;
  readonly #hosts = new Map<string, ChaosHost>();

  private constructor(index: number) {
    this.subnet = `10.254.${index}`;
    this.#bridge = `mlcbr${index}`;
  }

  /** The address of the test process on the bridge. */
  get runnerIp(): string {
    return `${this.subnet}.1`;
  }

  /** Makes the bridge, after removing what an earlier run left (namespaces `mlc-*`, links `mlc*`). */
  static create(index = 77): ChaosNet {
    requireTools();
    sweep();
    const net = new ChaosNet(index);
    ip(['link', 'add', net.#bridge, 'type', 'bridge']);
    ip(['addr', 'add', `${net.runnerIp}/24`, 'dev', net.#bridge]);
    ip(['link', 'set', net.#bridge, 'up']);
    return net;
  }

  /** A new host: a namespace `mlc-<name>` with loopback up and `eth0` on the bridge at the next address. */
  host(name: string): ChaosHost {
    if (this.#hosts.has(name)) throw new Error(`chaos host ${name} exists already`);
    if (!/^[a-z0-9-]{1,12}$/.test(name)) throw new Error(`chaos host name ${name}: use up to 12 of a-z, 0-9 and -`);
    const n = this.#hosts.size + 2;
    if (n > 254) throw new Error('at most 253 chaos hosts');
    const ns = `mlc-${name}`;
    const veth = `mlcv${n}`;
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

/** Removes namespaces and links with the chaos prefix left by a run that was killed. */
function sweep(): void {
  const list = execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' });
  for (const line of list.split('\n')) {
    const ns = line.split(' ')[0];
    if (ns?.startsWith('mlc-')) ip(['netns', 'del', ns], true);
  }
  const links = execFileSync('ip', ['-o', 'link', 'show'], { encoding: 'utf8' });
  for (const m of links.matchAll(/^\d+: (mlc[a-z0-9]+)[@:]/gm)) ip(['link', 'del', m[1] as string], true);
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
