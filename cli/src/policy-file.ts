import { isServiceName, SERVICE_NAME_RULE } from '@meshlet/shared/service-name';
import { isSeq, LineCounter, type Node, parseAllDocuments } from 'yaml';
import { CliError, CliErrorCodes } from './cli-error.js';
import { parseJsonFile } from './input-file.js';

/**
 * The kinds of document `apply -f` takes: a traffic policy (`PUT
 * /v1/policies/NAME`) or an authorization policy (`PUT /v1/authz/NAME`).
 */
export const POLICY_KINDS = {
  Policy: { path: '/v1/policies/', noun: 'policy', docs: 'docs/data-plane.md' },
  AuthorizationPolicy: { path: '/v1/authz/', noun: 'authorizationpolicy', docs: 'docs/security.md' },
} as const;

/** One of {@link POLICY_KINDS}. */
export type PolicyKind = keyof typeof POLICY_KINDS;

const isKind = (v: unknown): v is PolicyKind => typeof v === 'string' && Object.hasOwn(POLICY_KINDS, v);

/** One policy to apply: `{ kind: Policy | AuthorizationPolicy, service, policy, resourceVersion? }`. */
export interface PolicyDocument {
  kind: PolicyKind;
  service: string;
  /** The fields to set; the control plane fills in the defaults and validates them. */
  policy: Record<string, unknown>;
  /** Apply only if the stored policy is still at this version (optimistic concurrency). */
  resourceVersion?: string;
  /** Where it is in its file, for messages: `policies.yaml:12`. */
  where: string;
}

const FIELDS = ['kind', 'service', 'policy', 'resourceVersion'];

function fail(where: string, problem: string): CliError {
  return new CliError(CliErrorCodes.FILE, `${where}: ${problem}`);
}

function typeName(v: unknown): string {
  return v === null
    ? 'null'
    : Array.isArray(v)
      ? 'a list'
      : typeof v === 'object'
        ? 'a mapping'
        : `the ${typeof v} ${JSON.stringify(v)}`;
}

/**
 * Checks one document. Only the envelope is checked here; the policy's own
 * fields are the control plane's to validate (it knows its version's
 * schema), and its answer names any bad field.
 */
export function checkPolicyDocument(value: unknown, where: string): PolicyDocument {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw fail(
      where,
      `expected a mapping with kind (Policy or AuthorizationPolicy), service and policy, got ${typeName(value)}`,
    );
  }
  const v = value as Record<string, unknown>;
  const unknown = Object.keys(v).filter((k) => !FIELDS.includes(k));
  if (unknown.length > 0)
    throw fail(
      where,
      `unknown field "${unknown[0]}"; a policy document has ${FIELDS.join(', ')} (the policy's own fields go under policy:)`,
    );
  if (!isKind(v.kind))
    throw fail(
      where,
      v.kind === undefined
        ? 'kind is missing (Policy or AuthorizationPolicy)'
        : `kind must be Policy or AuthorizationPolicy, not ${typeName(v.kind)}`,
    );
  const kind = v.kind;
  // The mesh's own rule: a name the control plane would refuse is refused here, before anything is sent.
  if (typeof v.service !== 'string' || !isServiceName(v.service)) {
    throw fail(
      where,
      v.service === undefined
        ? 'service is missing'
        : `service must be a service name (${SERVICE_NAME_RULE.fix}), not ${typeName(v.service)}`,
    );
  }
  if (typeof v.policy !== 'object' || v.policy === null || Array.isArray(v.policy)) {
    throw fail(
      where,
      v.policy === undefined
        ? `policy is missing (the fields to set for ${v.service}, see ${POLICY_KINDS[kind].docs})`
        : `policy must be a mapping, not ${typeName(v.policy)}`,
    );
  }
  const doc: PolicyDocument = { kind, service: v.service, policy: v.policy as Record<string, unknown>, where };
  const rv = v.resourceVersion;
  if (rv !== undefined && rv !== null) {
    // YAML reads `resourceVersion: 7` as a number; the API takes the same digits as a string.
    if (
      (typeof rv === 'number' && Number.isSafeInteger(rv) && rv >= 0) ||
      (typeof rv === 'string' && /^\d{1,16}$/.test(rv))
    )
      doc.resourceVersion = String(rv);
    else
      throw fail(where, `resourceVersion must be a whole number such as "7" (from meshctl get), not ${typeName(rv)}`);
  }
  return doc;
}

/** Value and location of each document, flattening top-level lists. */
function yamlDocuments(text: string, name: string): Array<{ value: unknown; where: string }> {
  const lines = new LineCounter();
  const out: Array<{ value: unknown; where: string }> = [];
  const at = (node: Node | null | undefined) => (node?.range ? `${name}:${lines.linePos(node.range[0]).line}` : name);
  for (const doc of parseAllDocuments(text, { lineCounter: lines })) {
    const err = doc.errors[0];
    if (err)
      throw new CliError(
        CliErrorCodes.FILE,
        `${name}: not valid YAML: ${(err.message.split('\n')[0] ?? err.message).replace(/:$/, '')}`,
        { cause: err },
      );
    const value: unknown = doc.toJS({ maxAliasCount: 100 });
    if (value === null || value === undefined) continue;
    if (Array.isArray(value) && isSeq(doc.contents)) {
      const items = doc.contents.items as Array<Node | null>;
      value.forEach((v, i) => out.push({ value: v, where: at(items[i]) }));
    } else {
      out.push({ value, where: at(doc.contents) });
    }
  }
  return out;
}

/**
 * Parses the policy documents of a file: one document, a list of them, or
 * several YAML documents separated by `---`; JSON when the name ends in
 * `.json` (parsed strictly), YAML otherwise (stdin included: JSON is YAML).
 * Every problem names the file and line, and nothing is applied when any
 * document is wrong. A service named twice for one kind is refused: which one should win?
 */
export function parsePolicyFile(text: string, name: string): PolicyDocument[] {
  let docs: Array<{ value: unknown; where: string }>;
  if (name.toLowerCase().endsWith('.json')) {
    const value = parseJsonFile(text, name);
    docs = Array.isArray(value)
      ? value.map((v, i) => ({ value: v, where: `${name} item ${i + 1}` }))
      : [{ value, where: name }];
  } else {
    docs = yamlDocuments(text, name);
  }
  if (docs.length === 0) throw new CliError(CliErrorCodes.FILE, `${name}: no policy documents in it`);
  const seen = new Map<string, string>();
  return docs.map(({ value, where }) => {
    const doc = checkPolicyDocument(value, where);
    const first = seen.get(`${doc.kind}/${doc.service}`);
    if (first !== undefined)
      throw fail(
        where,
        `${doc.kind} of service ${doc.service} is already configured at ${first}; keep one document per service and kind`,
      );
    seen.set(`${doc.kind}/${doc.service}`, where);
    return doc;
  });
}
