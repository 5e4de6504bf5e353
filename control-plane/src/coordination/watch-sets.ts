/**
 * Who watches which lock: a set of peers per key and a set of keys per peer,
 * so that a closed stream drops all its watches at once. Bounded per peer,
 * so that one agent cannot grow the control plane's memory without limit.
 */
export class WatchSets<P> {
  /** The most locks one stream may watch at once. */
  static readonly MAX_PER_PEER = 1024;
  readonly #byKey = new Map<string, Set<P>>();
  readonly #byPeer = new Map<P, Set<string>>();

  /** Adds a watch; false when the peer watches {@link MAX_PER_PEER} keys already. */
  add(key: string, peer: P): boolean {
    const keys = this.#byPeer.get(peer) ?? new Set<string>();
    if (!keys.has(key) && keys.size >= WatchSets.MAX_PER_PEER) return false;
    keys.add(key);
    this.#byPeer.set(peer, keys);
    const peers = this.#byKey.get(key) ?? new Set<P>();
    peers.add(peer);
    this.#byKey.set(key, peers);
    return true;
  }

  remove(key: string, peer: P): void {
    this.#byPeer.get(peer)?.delete(key);
    const peers = this.#byKey.get(key);
    peers?.delete(peer);
    if (peers?.size === 0) this.#byKey.delete(key);
  }

  dropPeer(peer: P): void {
    for (const key of this.#byPeer.get(peer) ?? []) this.remove(key, peer);
    this.#byPeer.delete(peer);
  }

  /** The peers watching `key`. */
  of(key: string): P[] {
    return [...(this.#byKey.get(key) ?? [])];
  }
}
