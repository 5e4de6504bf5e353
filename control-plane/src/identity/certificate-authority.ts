import { type Clock, MeshletError } from '@meshlet/shared';
import {
  certificateFingerprint,
  checkTrustDomain,
  DEFAULT_TRUST_DOMAIN,
  generateEcdsaKeyPair,
  keysMatch,
  x509,
} from '@meshlet/shared/identity';
import { ControlPlaneErrorCodes } from '../errors.js';
import {
  CA_CERTIFICATE_LIFETIMES,
  CLOCK_SKEW_ALLOWANCE_MS,
  createIssuerCertificate,
  createLeafCertificate,
  createRootCertificate,
} from './ca-certificates.js';
import {
  type CaMaterial,
  type OperatorCaFiles,
  readCaDirectory,
  readOperatorCa,
  writeCaDirectory,
} from './ca-files.js';
import { type AllowedIdentity, checkCertificateRequest } from './check-certificate-request.js';

/** Where the CA's root and issuer come from. */
export type CaSource =
  /** Made by the CA at first start into `dir` (the data directory's `ca/`), read back on every later start. */
  | { kind: 'generated'; dir: string }
  /** Made at every start and kept nowhere: certificates issued before a restart are no longer trusted after it. */
  | { kind: 'memory' }
  /** Supplied by the operator, as for replicas that must share one issuer. */
  | ({ kind: 'files' } & OperatorCaFiles);

/** Options of {@link CertificateAuthority.open}. */
export interface CertificateAuthorityOptions {
  source: CaSource;
  /** The clock certificates are dated by. */
  clock: Clock;
  /** The mesh's trust domain; default `meshlet.local`. */
  trustDomain?: string;
  /** How long a workload certificate lives; default 24 h, at least 1 s. */
  leafLifetimeMs?: number;
  /** How long a root the CA makes lives; default 10 years. */
  rootLifetimeMs?: number;
  /** How long an issuer the CA makes lives; default 1 year. */
  issuerLifetimeMs?: number;
  /**
   * A root rotation's state in the store replaces what the source holds (it
   * is adopted right after): the source is not refused for having expired.
   */
  superseded?: boolean;
}

/** A signed workload certificate. */
export interface IssuedCertificate {
  /** The SPIFFE ID it certifies. */
  spiffeId: string;
  /** The instance it was issued to (its subject CN). */
  instanceId: string;
  /** Its serial number, as hex. */
  serialNumber: string;
  notBefore: Date;
  notAfter: Date;
  /** The leaf certificate, PEM. */
  certificatePem: string;
  /** The CA certificates between the leaf and a root (the issuer first), PEM each; never the root. */
  chainPem: string[];
  /** The leaf followed by its chain: what `node:tls` takes as `cert`. */
  certificateChainPem: string;
  /** The fingerprint of the issuer that signed it ({@link certificateFingerprint}). */
  issuerFingerprint: string;
}

/** Default lifetime of a workload certificate: 24 hours, as Istio's and Linkerd's. */
export const DEFAULT_LEAF_LIFETIME_MS = 24 * 3600_000;

const caInvalid = (message: string): MeshletError => new MeshletError(ControlPlaneErrorCodes.CA_INVALID, message);

/**
 * The mesh's certificate authority, in three tiers as Linkerd's: a root (the
 * trust anchor, in every agent's trust bundle) signs an issuer, and the
 * issuer signs the workloads' short-lived leaves. The tiers are what makes
 * rotation possible: a new issuer needs no change of trust bundle, and a new
 * root can be added to the bundle before anything is signed with it.
 *
 * It signs a workload's certificate signing request only for the identity its
 * sender is allowed (from how the sender authenticated, never from the
 * request), and writes the certificate itself: the request contributes its
 * public key and nothing else.
 */
export class CertificateAuthority {
  #material: CaMaterial;
  /** Issuers agents may meet in peers' chains: the active one, and during a root rotation the other. */
  #knownIssuers: x509.X509Certificate[];
  readonly #trustDomain: string;
  readonly #clock: Clock;
  readonly #leafLifetimeMs: number;

  private constructor(material: CaMaterial, trustDomain: string, clock: Clock, leafLifetimeMs: number) {
    this.#material = material;
    this.#knownIssuers = [...material.issuerChain];
    this.#trustDomain = trustDomain;
    this.#clock = clock;
    this.#leafLifetimeMs = leafLifetimeMs;
  }

  /**
   * Opens the CA: reads it from its source, or, for a generated CA on first
   * start, makes a root and an issuer and writes them (keys 0600). What it
   * reads is checked: the issuer is a CA, chains by signature to a root of the
   * bundle, is valid now, and its key is the one its certificate names.
   */
  static async open(options: CertificateAuthorityOptions): Promise<CertificateAuthority> {
    const trustDomain = checkTrustDomain(options.trustDomain ?? DEFAULT_TRUST_DOMAIN, 'trustDomain');
    const leafLifetimeMs = options.leafLifetimeMs ?? DEFAULT_LEAF_LIFETIME_MS;
    if (!Number.isInteger(leafLifetimeMs) || leafLifetimeMs < 1000) {
      throw caInvalid(
        `leafLifetimeMs ${leafLifetimeMs} is too short; give a whole number of milliseconds, at least 1000`,
      );
    }
    const now = new Date(options.clock());
    let material: CaMaterial;
    let where: string;
    if (options.source.kind === 'files') {
      material = await readOperatorCa(options.source);
      where = `the issuer ${options.source.issuerCertFile}`;
    } else if (options.source.kind === 'memory') {
      where = 'the in-memory CA';
      material = await generateCa(trustDomain, now, options);
    } else {
      where = `the CA in ${options.source.dir}`;
      const read = await readCaDirectory(options.source.dir);
      if (read === undefined) {
        material = await generateCa(trustDomain, now, options);
        await writeCaDirectory(options.source.dir, material);
      } else {
        material = read;
      }
    }
    await checkMaterial(material, now, where, options.superseded === true);
    return new CertificateAuthority(material, trustDomain, options.clock, leafLifetimeMs);
  }

  /** The mesh's trust domain. */
  get trustDomain(): string {
    return this.#trustDomain;
  }

  /** The roots every agent must trust, PEM each. */
  trustBundle(): string[] {
    return this.#material.roots.map((root) => root.toString('pem'));
  }

  /**
   * The issuer's chain below the roots, PEM each: public, sent with every
   * leaf, and what a callee needs to rebuild a caller's path when its TLS
   * stack hands over only the caller's leaf (Node 24's server side).
   */
  issuerChain(): string[] {
    return this.#material.issuerChain.map((c) => c.toString('pem'));
  }

  /** The issuers agents may meet in peers' chains, PEM each (the active one among them). */
  knownIssuers(): string[] {
    return this.#knownIssuers.map((c) => c.toString('pem'));
  }

  /** The fingerprint of the issuer that signs now. */
  get activeIssuerFingerprint(): string {
    return certificateFingerprint(new Uint8Array(this.issuer.rawData));
  }

  /** The CA's certificates and keys as they are now (a root rotation starts from them). */
  get material(): CaMaterial {
    return this.#material;
  }

  /**
   * Signs with other material from now on (a step of a root rotation, or the
   * state a rotation left in the store, read at start): checked as at open,
   * so a bad stored state cannot make the CA sign leaves nobody trusts.
   */
  async adopt(material: CaMaterial, knownIssuers: x509.X509Certificate[]): Promise<void> {
    await checkMaterial(material, new Date(this.#clock()), 'the rotated CA in the store');
    this.#material = material;
    // Every certificate between a leaf and a root, of the issuer that signs and of any other peers may present.
    const missing = material.issuerChain.filter((c) => !knownIssuers.some((k) => k.equal(c)));
    this.#knownIssuers = [...missing, ...knownIssuers];
  }

  /** When the issuer expires: no leaf outlives it. */
  get issuerNotAfter(): Date {
    return this.issuer.notAfter;
  }

  /** When the first of the roots expires: agents stop trusting what chains only to it. */
  get rootsNotAfter(): Date {
    return new Date(Math.min(...this.#material.roots.map((root) => root.notAfter.getTime())));
  }

  private get issuer(): x509.X509Certificate {
    return this.#material.issuerChain[0] as x509.X509Certificate;
  }

  /** Checks a request as {@link sign} does, without signing; refused with the same errors. */
  check(csrPem: string, allowed: Omit<AllowedIdentity, 'trustDomain'>): ReturnType<typeof checkCertificateRequest> {
    return checkCertificateRequest(csrPem, { ...allowed, trustDomain: this.#trustDomain });
  }

  /**
   * Signs a certificate signing request (PEM) for an identity the sender is
   * allowed: `allowed.service` (and `allowed.instanceId`, when given) come
   * from how the sender authenticated. Refused with `MESHLET_CSR_INVALID`
   * or `MESHLET_CSR_IDENTITY_FORBIDDEN` (see `checkCertificateRequest`).
   * The leaf lives `leafLifetimeMs`, but never past the issuer.
   */
  async sign(
    csrPem: string,
    allowed: Omit<AllowedIdentity, 'trustDomain'> & { credentialId?: string | undefined },
  ): Promise<IssuedCertificate> {
    const request = await this.check(csrPem, { service: allowed.service, instanceId: allowed.instanceId });
    const now = this.#clock();
    const issuer = this.issuer;
    if (now >= issuer.notAfter.getTime()) {
      throw caInvalid(`the issuer expired at ${issuer.notAfter.toISOString()}; give the control plane a new issuer`);
    }
    if (now < issuer.notBefore.getTime()) {
      throw caInvalid(
        `the issuer is valid only from ${issuer.notBefore.toISOString()}, after this clock's ` +
          `${new Date(now).toISOString()}; check the control plane's clock`,
      );
    }
    const notBefore = new Date(Math.max(now - CLOCK_SKEW_ALLOWANCE_MS, issuer.notBefore.getTime()));
    const notAfter = new Date(Math.min(now + this.#leafLifetimeMs, issuer.notAfter.getTime()));
    // Read before the signature: a root rotation's step may change the CA while it is being made.
    const chainPem = this.issuerChain();
    const leaf = await createLeafCertificate(
      { ...request, notBefore, notAfter, credentialId: allowed.credentialId },
      issuer,
      this.#material.issuerKey,
    );
    const certificatePem = leaf.toString('pem');
    return {
      spiffeId: request.spiffeUri,
      instanceId: request.instanceId,
      serialNumber: leaf.serialNumber,
      notBefore,
      notAfter,
      certificatePem,
      chainPem,
      certificateChainPem: [certificatePem, ...chainPem].join('\n') + '\n',
      issuerFingerprint: certificateFingerprint(new Uint8Array(issuer.rawData)),
    };
  }
}

/** A new root and an issuer signed by it, both made now. */
export async function generateCa(
  trustDomain: string,
  now: Date,
  options: Pick<CertificateAuthorityOptions, 'rootLifetimeMs' | 'issuerLifetimeMs'>,
): Promise<CaMaterial> {
  const rootKeys = await generateEcdsaKeyPair();
  const issuerKeys = await generateEcdsaKeyPair();
  const root = await createRootCertificate(
    rootKeys,
    trustDomain,
    now,
    options.rootLifetimeMs ?? CA_CERTIFICATE_LIFETIMES.rootMs,
  );
  const issuer = await createIssuerCertificate(
    issuerKeys.publicKey,
    root,
    rootKeys.privateKey,
    trustDomain,
    now,
    options.issuerLifetimeMs ?? CA_CERTIFICATE_LIFETIMES.issuerMs,
  );
  return { roots: [root], rootKey: rootKeys.privateKey, issuerChain: [issuer], issuerKey: issuerKeys.privateKey };
}

/** Refuses a CA that could only sign leaves nobody trusts. */
export async function checkMaterial(material: CaMaterial, now: Date, where: string, anyTime = false): Promise<void> {
  const [issuer, ...rest] = material.issuerChain;
  if (issuer === undefined) throw caInvalid(`${where} holds no certificate`);
  const chain = [issuer, ...rest];
  for (const cert of chain) {
    const constraints = cert.getExtension(x509.BasicConstraintsExtension);
    if (constraints?.ca !== true) {
      throw caInvalid(
        `${where}: ${cert.subject} is not a CA certificate (basicConstraints CA:TRUE); give an issuer CA`,
      );
    }
    if (!anyTime && (now > cert.notAfter || now < cert.notBefore)) {
      throw caInvalid(
        `${where}: ${cert.subject} is valid only from ${cert.notBefore.toISOString()} to ${cert.notAfter.toISOString()}; ` +
          'give an issuer valid now (rotation of a generated issuer is not built yet: move the CA directory aside to make a new CA)',
      );
    }
  }
  for (let i = 0; i < chain.length; i += 1) {
    const cert = chain[i] as x509.X509Certificate;
    const next = chain[i + 1];
    const signers = next === undefined ? material.roots : [next];
    let signed = false;
    for (const signer of signers) {
      if (await cert.verify({ publicKey: signer.publicKey, signatureOnly: true }).catch(() => false)) signed = true;
    }
    if (!signed) {
      throw caInvalid(
        `${where}: ${cert.subject} is not signed by ${next === undefined ? 'a root of the trust bundle' : next.subject}; ` +
          'give the issuer its own roots, in order',
      );
    }
  }
  if (!(await keysMatch(material.issuerKey, await issuer.publicKey.export()))) {
    throw caInvalid(
      `${where}: the issuer key is not the key of the issuer certificate ${issuer.subject}; give the matching pair`,
    );
  }
}
