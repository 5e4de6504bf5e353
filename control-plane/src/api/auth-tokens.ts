import { readFileSync } from 'node:fs';
import {
  type AuthRole,
  AuthTokensFile,
  ConfigError,
  type ControlPlaneConfig,
  compileValidator,
  readSettingFile,
  type ValidationIssue,
} from '@meshlet/shared';
import { parse as parseYaml } from 'yaml';
import { CREDENTIAL_PREFIX, isJoinCredential } from '../join/join-credential-store.js';

/** A bearer token of the admin API. `name` may be logged and shown; `token` never is. */
export interface AuthToken {
  name: string;
  token: string;
  role: AuthRole;
}

/** The `auth` section of the control-plane config. */
export type AuthConfig = ControlPlaneConfig['auth'];

const validateTokensFile = compileValidator(AuthTokensFile);

/** "entry 2 ("ci-bot")": how an operator finds an entry of the tokens file (counted from 1). */
function entryName(doc: unknown, index: number): string {
  const name = Array.isArray(doc) ? (doc[index] as { name?: unknown } | undefined)?.name : undefined;
  return typeof name === 'string' && name.length > 0 && name.length <= 64
    ? `entry ${index + 1} (${JSON.stringify(name)})`
    : `entry ${index + 1}`;
}

/**
 * Parses the text of `auth.tokensFile` (YAML, or JSON, which is YAML too).
 * Problems come back as issues whose path names the entry, never its token.
 */
export function parseTokensFile(text: string): { tokens: AuthToken[]; issues: ValidationIssue[] } {
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (e) {
    // The YAML error quotes the offending line, which may hold a token: say only where it is.
    const pos = (e as { linePos?: Array<{ line: number; col: number }> }).linePos?.[0];
    const where = pos ? ` at line ${pos.line}, column ${pos.col}` : '';
    return {
      tokens: [],
      issues: [
        {
          path: '',
          problem: `is not valid YAML or JSON${where}`,
          fix: 'write a list of { name, token, role } entries',
        },
      ],
    };
  }
  if (doc === null || doc === undefined || (Array.isArray(doc) && doc.length === 0)) {
    return {
      tokens: [],
      issues: [
        {
          path: '',
          problem: 'lists no token',
          fix: 'list at least one { name, token, role } entry, or unset auth.tokensFile',
        },
      ],
    };
  }
  if (!Array.isArray(doc)) {
    return {
      tokens: [],
      issues: [
        {
          path: '',
          problem: 'must be a list',
          fix: 'write a list of { name, token, role } entries, such as "- { name: ci, token: ..., role: read-only }"',
        },
      ],
    };
  }
  const result = validateTokensFile(doc);
  if (!result.ok) {
    const issues = result.issues.map((i) => {
      const [index, ...rest] = i.path.split('.');
      const entry = index === undefined || index === '' ? '' : entryName(doc, Number(index));
      return { ...i, path: [entry, ...rest].filter((s) => s !== '').join('.') };
    });
    return { tokens: [], issues };
  }
  return { tokens: result.value.map((e) => ({ name: e.name, token: e.token, role: e.role })), issues: [] };
}

/**
 * Every token of the config: `auth.adminToken`, `auth.readOnlyToken`, then
 * the file's entries; with the issues no schema can see. One token under two
 * names or roles would make the role a request gets ambiguous; a token equal
 * to the join token would let every agent host (which holds the join token)
 * use the admin API.
 */
function gather(
  auth: AuthConfig,
  fileTokens: readonly AuthToken[],
): { tokens: AuthToken[]; issues: ValidationIssue[] } {
  const tokens: AuthToken[] = [];
  if (auth.adminToken !== undefined) tokens.push({ name: 'auth.adminToken', token: auth.adminToken, role: 'admin' });
  if (auth.readOnlyToken !== undefined)
    tokens.push({ name: 'auth.readOnlyToken', token: auth.readOnlyToken, role: 'read-only' });
  const fromConfig = tokens.length;
  tokens.push(...fileTokens);
  const label = (i: number) => {
    const t = tokens[i] as AuthToken;
    return i < fromConfig
      ? t.name
      : `auth.tokensFile ${auth.tokensFile ?? ''}, entry ${i - fromConfig + 1} (${JSON.stringify(t.name)})`;
  };
  const issues: ValidationIssue[] = [];
  const byToken = new Map<string, number>();
  const byName = new Map<string, number>();
  tokens.forEach((t, i) => {
    const sameName = byName.get(t.name);
    if (sameName !== undefined)
      issues.push({
        path: label(i),
        problem: `has the name of ${label(sameName)}`,
        fix: 'give every token its own name',
      });
    else byName.set(t.name, i);
    const same = byToken.get(t.token);
    if (same !== undefined)
      issues.push({
        path: label(i),
        problem: `is the same token as ${label(same)}`,
        fix: 'give every name its own random token',
      });
    else byToken.set(t.token, i);
    if (auth.joinToken !== undefined && t.token === auth.joinToken) {
      issues.push({
        path: label(i),
        problem: 'is the same token as auth.joinToken, which every agent host holds',
        fix: 'use a different random token',
      });
    }
  });
  return { tokens, issues };
}

/**
 * Builds the token list of the admin API from the `auth` config, reading
 * `auth.tokensFile` if set. Throws a {@link MeshletError} naming the file
 * (and the entry) when it cannot be read or is wrong.
 */
export async function tokensFromConfig(auth: AuthConfig): Promise<AuthToken[]> {
  let fileTokens: AuthToken[] = [];
  const file = auth.tokensFile;
  if (file !== undefined) {
    const parsed = parseTokensFile(readSettingFile('auth.tokensFile', file).toString('utf8'));
    if (parsed.issues.length > 0) throw new ConfigError(`auth.tokensFile ${file}`, parsed.issues);
    fileTokens = parsed.tokens;
  }
  const { tokens, issues } = gather(auth, fileTokens);
  if (issues.length > 0) throw new ConfigError('the auth settings', issues);
  return tokens;
}

/**
 * Checks the `auth` section at start, before anything listens (reading
 * `auth.tokensFile` synchronously, as the config itself is read). The shared
 * `auth.joinToken` needs `auth.allowSharedJoinToken: true`, so that nobody
 * weakens a mesh by leaving an old setting in place; the flag without a
 * token, and a token that looks like a per-service credential (`mjc_...`,
 * which would never match: such hellos are checked as credentials), are
 * errors too. With `remoteHost` (a
 * non-loopback `listen.host` without `allowInsecureRemote`), at least one
 * admin-role token is required: a read-only token alone would leave the
 * admin API without anyone allowed to change it. Agents need no setting
 * there: every hello needs a per-service credential anyway.
 */
export function checkAuth(auth: AuthConfig, remoteHost: string | undefined): ValidationIssue[] {
  const issues: ValidationIssue[] = [];
  let fileTokens: AuthToken[] = [];
  const file = auth.tokensFile;
  if (file !== undefined) {
    let text: string | undefined;
    try {
      text = readFileSync(file, 'utf8');
    } catch (e) {
      issues.push({
        path: 'auth.tokensFile',
        problem: `cannot read ${file}: ${(e as Error).message}`,
        fix: 'check the path and that the control plane may read the file',
      });
    }
    if (text !== undefined) {
      const parsed = parseTokensFile(text);
      for (const i of parsed.issues)
        issues.push({
          path: 'auth.tokensFile',
          problem: `${file}${i.path ? `, ${i.path}` : ''}: ${i.problem}`,
          fix: i.fix,
        });
      fileTokens = parsed.tokens;
    }
  }
  const gathered = gather(auth, fileTokens);
  issues.push(...gathered.issues);
  if (auth.joinToken !== undefined && !auth.allowSharedJoinToken)
    issues.push({
      path: 'auth.joinToken',
      problem:
        'is a join token shared by every agent, which admits its holder as any service, and auth.allowSharedJoinToken is not true',
      fix: 'give each service its own credential ("meshctl token create --service <name>", in its agents\' controlPlane.joinToken) and remove auth.joinToken, or set auth.allowSharedJoinToken: true to accept the shared token (insecure)',
    });
  if (auth.joinToken !== undefined && isJoinCredential(auth.joinToken))
    issues.push({
      path: 'auth.joinToken',
      problem: `starts with ${CREDENTIAL_PREFIX}, like a per-service credential: hellos presenting it are checked as a credential, so it would never match`,
      fix: 'remove auth.joinToken (per-service credentials need no setting here), or set a shared token that does not start with mjc_',
    });
  if (auth.allowSharedJoinToken === true && auth.joinToken === undefined)
    issues.push({
      path: 'auth.joinToken',
      problem: 'is not set, but auth.allowSharedJoinToken is true: there is no shared token to allow',
      fix: 'remove auth.allowSharedJoinToken (per-service credentials need no flag), or set auth.joinToken',
    });
  if (remoteHost !== undefined) {
    const fix = 'set a random token of at least 16 characters, or listen on 127.0.0.1';
    // An unreadable file already has its issue: do not add a misleading second one.
    const fileUnread = file !== undefined && fileTokens.length === 0;
    if (!fileUnread && !gathered.tokens.some((t) => t.role === 'admin')) {
      issues.push({
        path: 'auth.adminToken',
        problem: `is required when listen.host is ${remoteHost} (or a token of role admin in auth.tokensFile)`,
        fix,
      });
    }
  }
  return issues;
}
