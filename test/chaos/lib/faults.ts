import { execFileSync } from 'node:child_process';
import type { ChaosHost } from './chaos-net.js';

/**
 * Network faults on one chaos host, as nftables rules in its own namespace
 * (table `inet chaos`, an input and an output chain): a partition drops
 * every packet to and from the named peers; packet loss drops a random share
 * of them (`numgen random mod 100 < N`). Only the host's namespace is
 * touched, and only packets of the named peers: the test process (the
 * bridge's address) always gets through.
 */
export class Faults {
  readonly #host: ChaosHost;
  #ready = false;

  constructor(host: ChaosHost) {
    this.#host = host;
  }

  /** Drops everything between this host and `peers`, both ways. */
  partition(peers: readonly ChaosHost[]): void {
    for (const p of peers) this.#rules(`ip saddr ${p.ip} counter drop`, `ip daddr ${p.ip} counter drop`);
  }

  /** Drops `percent` of the packets between this host and `peers`, each way. */
  loss(peers: readonly ChaosHost[], percent: number): void {
    if (!Number.isInteger(percent) || percent < 1 || percent > 100)
      throw new Error(`loss: percent ${percent} is not 1..100`);
    for (const p of peers)
      this.#rules(
        `ip saddr ${p.ip} numgen random mod 100 < ${percent} counter drop`,
        `ip daddr ${p.ip} numgen random mod 100 < ${percent} counter drop`,
      );
  }

  /** Packets the fault rules dropped so far (nft's counters): proof that a fault was in force. */
  dropped(): number {
    let n = 0;
    for (const m of this.list().matchAll(/counter packets (\d+)/g)) n += Number(m[1]);
    return n;
  }

  /** Removes every fault of this host. */
  heal(): void {
    if (this.#ready) this.#nft(['flush', 'table', 'inet', 'chaos']);
  }

  /** The rules in force, as nft lists them (for a failure report). */
  list(): string {
    return this.#ready
      ? execFileSync('ip', ['netns', 'exec', this.#host.ns, 'nft', 'list', 'table', 'inet', 'chaos'], {
          encoding: 'utf8',
        })
      : '';
  }

  #rules(input: string, output: string): void {
    if (!this.#ready) {
      this.#nft(['add', 'table', 'inet', 'chaos']);
      this.#nft(['add', 'chain', 'inet', 'chaos', 'input', '{ type filter hook input priority 0; policy accept; }']);
      this.#nft(['add', 'chain', 'inet', 'chaos', 'output', '{ type filter hook output priority 0; policy accept; }']);
      this.#ready = true;
    }
    this.#nft(['add', 'rule', 'inet', 'chaos', 'input', ...input.split(' ')]);
    this.#nft(['add', 'rule', 'inet', 'chaos', 'output', ...output.split(' ')]);
  }

  #nft(args: string[]): void {
    try {
      execFileSync('ip', ['netns', 'exec', this.#host.ns, 'nft', ...args], {
        stdio: ['ignore', 'pipe', 'pipe'],
        timeout: 10_000,
      });
    } catch (e) {
      const err = e as Error & { stderr?: Buffer };
      throw new Error(
        `nft ${args.join(' ')} in ${this.#host.ns} failed: ${err.stderr?.toString().trim() ?? err.message}`,
        {
          cause: e,
        },
      );
    }
  }
}
