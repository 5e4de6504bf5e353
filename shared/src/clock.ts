/**
 * The time source every long-lived component takes as a parameter, so that
 * tests can pin time down (Envoy's `TimeSource`, linkerd2-proxy's `Clock`).
 */

/** Milliseconds since the epoch, as `Date.now()` gives them. */
export type Clock = () => number;

/**
 * The wall clock: the one place production code reads `Date.now()`.
 * Assemblies (the agent, the control plane, the CLI) create it and pass it down.
 */
export const systemClock: Clock = () => Date.now();
