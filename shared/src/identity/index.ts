/**
 * `@meshlet/shared/identity`: workload identities and the certificate
 * building blocks both ends share. Apart from the main entry because it loads
 * `@peculiar/x509` (and the Reflect polyfill it needs), which a process that
 * handles no certificate should not pay for.
 */
export * from './spiffe-id.js';
export * from './x509.js';
export * from './ecdsa-key.js';
export * from './peer-identity-verifier.js';
export * from './spiffe-server-check.js';
export * from './instance-common-name.js';
export * from './certificate-fingerprint.js';
export * from './credential-name.js';
