import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { CliError, CliErrorCodes } from './cli-error.js';

/** The control plane's address when nothing else names one: the default `listen` of a local control plane. */
export const DEFAULT_SERVER = 'http://127.0.0.1:15010';

/** Connection flags from the command line. */
export interface ConnectionFlags {
  server?: string;
  token?: string;
  config?: string;
  caFile?: string;
}

/** Where meshctl finds the control plane and how it proves who it is; each value says where it came from. */
export interface Connection {
  /** Base URL without a trailing slash, such as `http://127.0.0.1:15010`. */
  server: string;
  serverSource: string;
  /** Bearer token; never printed. */
  token: string | undefined;
  tokenSource: string | undefined;
  /** PEM bundle that signs the control plane's certificate, for https with a private CA. */
  ca: string | undefined;
  caFile: string | undefined;
  /** The config file looked at (it may not exist when it is the default one). */
  configFile: string;
}

/** The fields of a meshctl config file. */
export interface ConfigFile {
  server?: string;
  token?: string;
  caFile?: string;
}

const CONFIG_FIELDS = ['server', 'token', 'caFile'] as const;

/** The config file meshctl reads: `--config`, else `MESHCTL_CONFIG`, else `$XDG_CONFIG_HOME/meshctl/config.yaml` (`~/.config/...`). */
export function configFilePath(
  flags: ConnectionFlags,
  env: Readonly<Record<string, string | undefined>>,
  homedir: string,
): { file: string; explicit: boolean } {
  if (flags.config) return { file: resolve(flags.config), explicit: true };
  if (env.MESHCTL_CONFIG) return { file: resolve(env.MESHCTL_CONFIG), explicit: true };
  return { file: join(env.XDG_CONFIG_HOME || join(homedir, '.config'), 'meshctl', 'config.yaml'), explicit: false };
}

/**
 * Reads a meshctl config file. A missing default file is an empty config; a
 * missing file that was named explicitly, a YAML error, an unknown field or
 * a value that is not a string is an error naming the file: a typo such as
 * `sever:` must not silently send the token to the default address.
 */
export function readConfigFile(
  file: string,
  explicit: boolean,
  read: (file: string) => string = (f) => readFileSync(f, 'utf8'),
): ConfigFile {
  let text: string;
  try {
    text = read(file);
  } catch (e) {
    if (!explicit && (e as NodeJS.ErrnoException).code === 'ENOENT') return {};
    throw new CliError(CliErrorCodes.CONFIG, `cannot read the meshctl config file ${file}: ${(e as Error).message}`, {
      cause: e,
    });
  }
  let value: unknown;
  try {
    value = parseYaml(text, { prettyErrors: false });
  } catch (e) {
    throw new CliError(
      CliErrorCodes.CONFIG,
      `the meshctl config file ${file} is not valid YAML: ${firstLine((e as Error).message)}`,
      { cause: e },
    );
  }
  if (value === null || value === undefined) return {};
  if (typeof value !== 'object' || Array.isArray(value)) {
    throw new CliError(
      CliErrorCodes.CONFIG,
      `the meshctl config file ${file} must be a mapping with ${CONFIG_FIELDS.join(', ')}`,
    );
  }
  const out: ConfigFile = {};
  for (const [key, v] of Object.entries(value)) {
    if (!(CONFIG_FIELDS as readonly string[]).includes(key)) {
      throw new CliError(
        CliErrorCodes.CONFIG,
        `the meshctl config file ${file} has an unknown field "${key}"; the fields are ${CONFIG_FIELDS.join(', ')}`,
      );
    }
    if (v === null || v === undefined) continue;
    if (typeof v !== 'string' || v === '')
      throw new CliError(CliErrorCodes.CONFIG, `${key} in the meshctl config file ${file} must be a non-empty string`);
    out[key as (typeof CONFIG_FIELDS)[number]] = v;
  }
  return out;
}

function firstLine(text: string): string {
  return text.split('\n')[0] ?? text;
}

/** The server URL shown in messages: credentials in it, if any, are hidden. */
export function displayUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.username || u.password) {
      u.username = '***';
      u.password = '';
    }
    return u.toString().replace(/\/$/, '');
  } catch {
    return url;
  }
}

function checkServer(
  value: string,
  source: string,
  code: typeof CliErrorCodes.USAGE | typeof CliErrorCodes.CONFIG,
): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new CliError(
      code,
      `the server "${value}" from ${source} is not a URL; use http://HOST:PORT or https://HOST:PORT`,
    );
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new CliError(code, `the server ${displayUrl(value)} from ${source} must start with http:// or https://`);
  }
  if (url.search || url.hash)
    throw new CliError(code, `the server ${displayUrl(value)} from ${source} must not have a query or fragment`);
  return url.toString().replace(/\/+$/, '');
}

function checkToken(
  token: string,
  source: string,
  code: typeof CliErrorCodes.USAGE | typeof CliErrorCodes.CONFIG,
): string {
  // The token goes into a header: a line break from `echo` or a file would corrupt the request.
  // eslint-disable-next-line no-control-regex
  if (/[\s\u0000-\u001f\u007f]/.test(token)) {
    throw new CliError(
      code,
      `the token from ${source} contains whitespace or a line break; remove it (the token itself is not shown)`,
    );
  }
  return token;
}

/**
 * Resolves where and how to connect. Each setting comes from its flag, else
 * its `MESHCTL_*` variable, else the config file, else the default:
 * the nearer to the command, the stronger. The config file itself is named
 * by `--config`, else `MESHCTL_CONFIG`, else the default path.
 */
export function resolveConnection(
  flags: ConnectionFlags,
  env: Readonly<Record<string, string | undefined>>,
  homedir: string,
  read: (file: string) => string = (f) => readFileSync(f, 'utf8'),
): Connection {
  const { file, explicit } = configFilePath(flags, env, homedir);
  const config = readConfigFile(file, explicit, read);
  const inFile = (field: string) => `${field}: in ${file}`;

  let server: string;
  let serverSource: string;
  if (flags.server !== undefined)
    [server, serverSource] = [checkServer(flags.server, '--server', CliErrorCodes.USAGE), '--server'];
  else if (env.MESHCTL_SERVER)
    [server, serverSource] = [checkServer(env.MESHCTL_SERVER, 'MESHCTL_SERVER', CliErrorCodes.USAGE), 'MESHCTL_SERVER'];
  else if (config.server !== undefined)
    [server, serverSource] = [checkServer(config.server, inFile('server'), CliErrorCodes.CONFIG), inFile('server')];
  else [server, serverSource] = [DEFAULT_SERVER, 'the default'];

  let token: string | undefined;
  let tokenSource: string | undefined;
  if (flags.token !== undefined)
    [token, tokenSource] = [checkToken(flags.token, '--token', CliErrorCodes.USAGE), '--token'];
  else if (env.MESHCTL_TOKEN)
    [token, tokenSource] = [checkToken(env.MESHCTL_TOKEN, 'MESHCTL_TOKEN', CliErrorCodes.USAGE), 'MESHCTL_TOKEN'];
  else if (config.token !== undefined)
    [token, tokenSource] = [checkToken(config.token, inFile('token'), CliErrorCodes.CONFIG), inFile('token')];

  let caFile: string | undefined;
  let caSource = '';
  if (flags.caFile !== undefined) [caFile, caSource] = [resolve(flags.caFile), '--ca-file'];
  else if (env.MESHCTL_CA_FILE) [caFile, caSource] = [resolve(env.MESHCTL_CA_FILE), 'MESHCTL_CA_FILE'];
  // A relative caFile in the config file is relative to that file, as kubeconfig does it.
  else if (config.caFile !== undefined) [caFile, caSource] = [resolve(dirname(file), config.caFile), inFile('caFile')];
  let ca: string | undefined;
  if (caFile !== undefined) {
    try {
      ca = read(caFile);
    } catch (e) {
      throw new CliError(
        CliErrorCodes.FILE,
        `cannot read the CA file ${caFile} (from ${caSource}): ${(e as Error).message}`,
        { cause: e },
      );
    }
    if (!ca.includes('-----BEGIN CERTIFICATE-----')) {
      throw new CliError(
        CliErrorCodes.FILE,
        `the CA file ${caFile} (from ${caSource}) holds no PEM certificate (-----BEGIN CERTIFICATE-----)`,
      );
    }
  }
  return { server, serverSource, token, tokenSource, ca, caFile, configFile: file };
}
