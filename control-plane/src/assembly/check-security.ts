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
 * A control plane beyond loopback must serve TLS, unless the operator says
 * plain HTTP is meant (`tls.allowPlaintextRemote`, logged at every start):
 * the bearer tokens, the join credentials and the tables would otherwise
 * cross the network in the clear, and anyone on the path could answer as
 * the control plane.
 */
function plaintextRemoteIssues(config: ControlPlaneConfig): ValidationIssue[] {
  const host = config.listen.host;
  if (isLoopback(host) || config.tls.certFile !== undefined || config.tls.allowPlaintextRemote) return [];
  return [
    {
      path: 'tls.certFile',
      problem: `is required when listen.host is ${host}: without TLS, bearer tokens and agents' join credentials cross the network in the clear`,
      fix: 'set tls.certFile and tls.keyFile (agents then use wss://, meshctl https://), listen on 127.0.0.1, or set tls.allowPlaintextRemote: true on a network you trust (insecure; logged at every start)',
    },
  ];
}

/**
 * Checks what a schema cannot: a control plane reachable from other hosts
 * must authenticate agents and operators, over TLS; the config file's
 * authorization policies name valid SPIFFE ids and normalized paths
 * (authzPolicyIssues).
 */
export function checkSecurity(config: ControlPlaneConfig): ValidationIssue[] {
  const remote = isLoopback(config.listen.host) || config.auth.allowInsecureRemote ? undefined : config.listen.host;
  const authz = Object.entries(config.authz).flatMap(([service, p]) => authzPolicyIssues(p, `authz.${service}.`));
  return [
    ...checkAuth(config.auth, remote),
    ...checkTls(config.tls),
    ...plaintextRemoteIssues(config),
    ...addressRangeIssues(config.registry.allowedAddressRanges),
    ...authz,
  ];
}
