import { compileValidator, Id, ServiceName, resolveAuthzPolicy, resolvePolicy } from '@meshlet/shared';
import { Type } from '@sinclair/typebox';
import { AUTHZ_PREFIX } from '../authz/authz-store.js';
import { isStoredJoinCredential, JOIN_CREDENTIAL_PREFIX } from '../join/join-credential-store.js';
import { SHARD_GENERATION_PREFIX } from '../sharding/shard-map-change.js';

const isServiceName = compileValidator(ServiceName);
const isId = compileValidator(Id);
const ServiceList = compileValidator(Type.Array(ServiceName, { maxItems: 100_000 }));
const Drain = compileValidator(Type.Object({ reason: Type.String({ maxLength: 1024 }) }));
const Cluster = compileValidator(Type.Object({ id: Type.String({ minLength: 1, maxLength: 128 }) }));

/**
 * Checks the values a verified snapshot chain would restore, key by key: a
 * checksum proves a file was not damaged, not that its content is valid (it
 * has no secret), and a value the control plane cannot use would stop it
 * from starting again. Returns the first problem, naming the key, or
 * `undefined` when every key is one the control plane knows with a valid
 * value: `services`, `cluster`, `policies/<service>`, `drains/<instance>`,
 * `join-credentials/<id>`, `authz/<service>`, `shard-generations/<service>`.
 */
export function checkRestoredState(state: ReadonlyMap<string, unknown>): string | undefined {
  for (const [key, value] of state) {
    const problem = checkKey(key, value);
    if (problem) return `key "${key.slice(0, 200)}": ${problem}; nothing was restored`;
  }
  return undefined;
}

function checkKey(key: string, value: unknown): string | undefined {
  if (key === 'services') return ServiceList(value).ok ? undefined : 'must be a list of service names';
  if (key === 'cluster') return Cluster(value).ok ? undefined : 'must be {id}';
  if (key.startsWith('policies/')) {
    if (!isServiceName(key.slice('policies/'.length)).ok) return 'is not a policy of a valid service name';
    try {
      resolvePolicy(value);
      return undefined;
    } catch (e) {
      return (e as Error).message;
    }
  }
  if (key.startsWith(AUTHZ_PREFIX)) {
    if (!isServiceName(key.slice(AUTHZ_PREFIX.length)).ok)
      return 'is not an authorization policy of a valid service name';
    try {
      resolveAuthzPolicy(value);
      return undefined;
    } catch (e) {
      return (e as Error).message;
    }
  }
  if (key.startsWith(SHARD_GENERATION_PREFIX)) {
    if (!isServiceName(key.slice(SHARD_GENERATION_PREFIX.length)).ok)
      return 'is not a map generation of a valid service name';
    return Number.isSafeInteger(value) && (value as number) >= 0
      ? undefined
      : 'must be a generation (an integer from 0)';
  }
  if (key.startsWith('drains/')) {
    if (!isId(key.slice('drains/'.length)).ok) return 'is not a drain of a valid instance id';
    return Drain(value).ok ? undefined : 'must be {reason}';
  }
  if (key.startsWith(JOIN_CREDENTIAL_PREFIX)) {
    const ok = isStoredJoinCredential(value);
    if (!ok.ok) return 'must be a join credential {id, service, createdAt, expiresAt, secretSha256}';
    return ok.value.id === key.slice(JOIN_CREDENTIAL_PREFIX.length) ? undefined : 'holds the credential of another id';
  }
  return 'is not a key this control plane keeps';
}
