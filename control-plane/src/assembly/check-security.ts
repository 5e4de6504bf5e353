import { isIP } from 'node:net';
import { authzPolicyIssues, type ControlPlaneConfig, type ValidationIssue } from '@meshlet/shared';
import { checkAuth } from '../api/auth-tokens.js';
import { checkTls } from '../api/tls.js';
import { addressRangeIssues } from '../registry/advertised-address-check.js';

/** Whether `host` only accepts connections from this machine. */
export function isLoopback(host: string): boolean {
  if (host === 'localhost') return true;
  if (isIP(host) === 4) return host.startsWith('127.');
  return host === '::1';
}

/**
 * Checks what a schema cannot: a control plane reachable from other hosts
 * must authenticate agents and operators; the config file's authorization
 * policies name valid SPIFFE ids and normalized paths (authzPolicyIssues).
 */
export function checkSecurity(config: ControlPlaneConfig): ValidationIssue[] {
  const remote = isLoopback(config.listen.host) || config.auth.allowInsecureRemote ? undefined : config.listen.host;
  const authz = Object.entries(config.authz).flatMap(([service, p]) => authzPolicyIssues(p, `authz.${service}.`));
  return [
    ...checkAuth(config.auth, remote),
    ...checkTls(config.tls),
    ...addressRangeIssues(config.registry.allowedAddressRanges),
    ...authz,
  ];
}
