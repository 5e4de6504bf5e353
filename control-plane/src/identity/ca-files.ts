import { mkdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { MeshletError, writePrivateFile } from '@meshlet/shared';
import { type CryptoKey, privateKeyFromPem, privateKeyToPem, x509 } from '@meshlet/shared/identity';
import { ControlPlaneErrorCodes } from '../errors.js';

/** The CA's certificates and keys, as read from files or just made. */
export interface CaMaterial {
  /** The trust anchors: what every agent's trust bundle holds. */
  roots: x509.X509Certificate[];
  /** The root's key: only where the CA made its root itself (operators keep theirs offline). */
  rootKey: CryptoKey | undefined;
  /** The issuer (first) and any certificates between it and a root, as an issuer file may carry. */
  issuerChain: x509.X509Certificate[];
  /** The issuer's key, which signs every leaf. */
  issuerKey: CryptoKey;
}

/** The files of a CA the control plane made itself, in its directory. Keys are 0600, the directory 0700. */
export const CA_FILE_NAMES = {
  roots: 'roots.pem',
  rootKey: 'root-key.pem',
  issuer: 'issuer.pem',
  issuerKey: 'issuer-key.pem',
} as const;

/** The files of an operator-supplied CA, like Linkerd's trust anchors and issuer. */
export interface OperatorCaFiles {
  /** One or more root certificates (PEM): the trust bundle. */
  trustBundleFile: string;
  /** The issuer's certificate (PEM), optionally followed by the intermediates up to a root. */
  issuerCertFile: string;
  /** The issuer's private key: unencrypted PKCS#8 PEM, ECDSA P-256. */
  issuerKeyFile: string;
}

const caInvalid = (message: string, cause?: unknown): MeshletError =>
  new MeshletError(ControlPlaneErrorCodes.CA_INVALID, message, cause === undefined ? undefined : { cause });

async function readText(file: string, what: string): Promise<string> {
  try {
    return await readFile(file, 'utf8');
  } catch (e) {
    throw caInvalid(
      `cannot read the ${what} ${file}: ${(e as Error).message}; check the path and that the control plane may read it`,
      e,
    );
  }
}

/** The certificates of a PEM file, at least one; {@link MeshletError} `MESHLET_CA_INVALID` naming the file otherwise. */
export function parseCertificates(pem: string, file: string): x509.X509Certificate[] {
  let certs: x509.X509Certificate[];
  try {
    certs = x509.PemConverter.decodeWithHeaders(pem)
      .filter((b) => b.type === 'CERTIFICATE')
      .map((b) => new x509.X509Certificate(b.rawData));
  } catch (e) {
    throw caInvalid(
      `${file} holds a certificate that cannot be parsed (${(e as Error).message}); give PEM certificates`,
      e,
    );
  }
  if (certs.length === 0) {
    throw caInvalid(`${file} holds no "-----BEGIN CERTIFICATE-----" block; give PEM certificates`);
  }
  return certs;
}

async function readKey(file: string, what: string): Promise<CryptoKey> {
  const pem = await readText(file, what);
  try {
    return await privateKeyFromPem(pem);
  } catch (e) {
    throw caInvalid(`${file} is not a usable ${what}: ${(e as Error).message}`, e);
  }
}

/**
 * Refuses an issuer key that group or others may read, as ssh refuses such a
 * private key: whoever reads it can certify any identity of the mesh.
 */
async function checkKeyMode(file: string): Promise<void> {
  if (process.platform === 'win32') return;
  let mode: number;
  try {
    mode = (await stat(file)).mode & 0o777;
  } catch {
    return; // Reading it says what is wrong with the path.
  }
  if ((mode & 0o077) !== 0) {
    throw caInvalid(
      `${file} may be read by group or others (mode ${mode.toString(8).padStart(4, '0')}); the issuer key signs ` +
        `every workload identity: chmod 600 ${file} (owned by the control plane's user)`,
    );
  }
}

/** Reads an operator-supplied CA; its consistency is checked by the caller. */
export async function readOperatorCa(files: OperatorCaFiles): Promise<CaMaterial> {
  await checkKeyMode(files.issuerKeyFile);
  return {
    roots: parseCertificates(await readText(files.trustBundleFile, 'trust bundle'), files.trustBundleFile),
    rootKey: undefined,
    issuerChain: parseCertificates(await readText(files.issuerCertFile, 'issuer certificate'), files.issuerCertFile),
    issuerKey: await readKey(files.issuerKeyFile, 'issuer key'),
  };
}

async function exists(file: string): Promise<boolean> {
  try {
    await readFile(file);
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw caInvalid(`cannot read ${file}: ${(e as Error).message}`, e);
  }
}

/**
 * Reads the CA a control plane made in `dir`: `undefined` when it holds no
 * trust bundle, on first start or when the first start stopped before it was
 * done (the trust bundle is written last and no agent can have seen it). A
 * trust bundle without the issuer's files is refused rather than completed:
 * a new issuer key would have to be signed by a root whose key may be gone.
 */
export async function readCaDirectory(dir: string): Promise<CaMaterial | undefined> {
  const path = (name: keyof typeof CA_FILE_NAMES): string => join(dir, CA_FILE_NAMES[name]);
  if (!(await exists(path('roots')))) return undefined;
  const missing: string[] = [];
  for (const name of ['issuer', 'issuerKey'] as const) {
    if (!(await exists(path(name)))) missing.push(path(name));
  }
  if (missing.length > 0) {
    throw caInvalid(
      `the CA directory ${dir} has a trust bundle but lacks ${missing.join(' and ')}; restore them from a backup, ` +
        'or move the directory aside to make a new CA (every agent will then need a new certificate and trust bundle)',
    );
  }
  return {
    roots: parseCertificates(await readText(path('roots'), 'trust bundle'), path('roots')),
    rootKey: (await exists(path('rootKey'))) ? await readKey(path('rootKey'), 'root key') : undefined,
    issuerChain: parseCertificates(await readText(path('issuer'), 'issuer certificate'), path('issuer')),
    issuerKey: await readKey(path('issuerKey'), 'issuer key'),
  };
}

/**
 * Writes a CA into `dir` (made 0700 if missing): keys 0600, certificates too
 * (nothing in the directory is for others). The trust bundle is written
 * last: its presence says the CA is complete ({@link readCaDirectory}).
 */
export async function writeCaDirectory(dir: string, material: CaMaterial): Promise<void> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const pem = (certs: x509.X509Certificate[]): string => certs.map((c) => c.toString('pem')).join('\n') + '\n';
  if (material.rootKey !== undefined) {
    await writePrivateFile(join(dir, CA_FILE_NAMES.rootKey), await privateKeyToPem(material.rootKey));
  }
  await writePrivateFile(join(dir, CA_FILE_NAMES.issuerKey), await privateKeyToPem(material.issuerKey));
  await writePrivateFile(join(dir, CA_FILE_NAMES.issuer), pem(material.issuerChain));
  await writePrivateFile(join(dir, CA_FILE_NAMES.roots), pem(material.roots));
}
