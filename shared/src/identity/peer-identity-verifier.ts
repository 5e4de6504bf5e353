import { createHash } from 'node:crypto';
import type { PeerCertificate } from 'node:tls';
import type { Clock } from '../clock.js';
import { MeshletError, SharedErrorCodes } from '../errors.js';
import { checkTrustDomain, parseSpiffeId, type SpiffeId } from './spiffe-id.js';
import { x509 } from './x509.js';
import { instanceFromCommonName } from './instance-common-name.js';

/** Why a peer's certificate chain does not prove an identity. */
export type PeerIdentityFailure =
  /** The peer presented no certificate. */
  | 'no-certificate'
  /** A certificate could not be parsed. */
  | 'malformed'
  /** The chain does not lead to a root of the trust bundle (another mesh's, or made up). */
  | 'untrusted'
  /** A certificate of the chain is past its `notAfter`. */
  | 'expired'
  /** A certificate of the chain is before its `notBefore`. */
  | 'not-yet-valid'
  /** The leaf has no URI SAN, several, or one that is not a meshlet SPIFFE ID. */
  | 'not-spiffe'
  /** The SPIFFE ID belongs to another trust domain. */
  | 'wrong-trust-domain'
  /** The SPIFFE ID names another service than the one expected. */
  | 'wrong-service';

/** What {@link PeerIdentityVerifier.verify} found: the peer's identity, or why there is none. */
export type PeerIdentity =
  | {
      ok: true;
      /** The peer's workload identity. */
      id: SpiffeId;
      /** The same, as its URI. */
      uri: string;
      /** The instance the certificate was issued to (from its subject CN, see `instanceCommonName`), where there is one. */
      instanceId: string | undefined;
      /** When the peer's certificate expires. */
      notAfter: Date;
    }
  | { ok: false; reason: PeerIdentityFailure; message: string };

/**
 * A peer's chain, as `node:tls` gives it: `socket.getPeerCertificate(true)`
 * (each certificate's `raw`, linked by `issuerCertificate`); or DER buffers,
 * leaf first. An empty object (what Node returns for no certificate) and
 * `undefined` mean none.
 */
export type PeerChain = PeerCertificate | readonly Uint8Array[] | undefined;

/** Options of a {@link PeerIdentityVerifier}. */
export interface PeerIdentityVerifierOptions {
  /** The roots to trust, as PEM (one certificate or several per string). */
  trustBundle: readonly string[];
  /** The mesh's trust domain: identities of any other are refused. */
  trustDomain: string;
  /**
   * Issuer certificates (PEM) to build chains with besides those the peer
   * sent: candidates, never anchors. Node 24's server side gives only the
   * client's leaf (`getPeerCertificate(true)` has no `issuerCertificate`), so
   * a callee needs the mesh's issuers to rebuild the path it verified.
   */
  knownIntermediates?: readonly string[];
  /** The clock certificates' validity is checked against. */
  clock: Clock;
}

/** Longest chain followed (leaf, issuer, root, and room for one more intermediate). */
const MAX_CHAIN = 4;

/** The DER certificates of a peer's chain, leaf first, as Node's `issuerCertificate` links give them. */
export function peerChainDer(peer: PeerChain): Uint8Array[] {
  if (peer === undefined) return [];
  if (Array.isArray(peer)) return [...(peer as readonly Uint8Array[])];
  const chain: Uint8Array[] = [];
  const seen = new Set<string>();
  let cert: PeerCertificate | undefined = peer as PeerCertificate;
  // A self-signed root names itself as its issuer: stop at a certificate already seen.
  while (cert?.raw !== undefined && chain.length < MAX_CHAIN + 4 && !seen.has(cert.fingerprint256)) {
    seen.add(cert.fingerprint256);
    chain.push(cert.raw);
    cert = (cert as PeerCertificate & { issuerCertificate?: PeerCertificate }).issuerCertificate;
  }
  return chain;
}

const refuse = (reason: PeerIdentityFailure, message: string): PeerIdentity => ({ ok: false, reason, message });

const sameDer = (a: x509.X509Certificate, b: x509.X509Certificate): boolean =>
  Buffer.from(a.rawData).equals(Buffer.from(b.rawData));

function isCa(cert: x509.X509Certificate): boolean {
  return cert.getExtension(x509.BasicConstraintsExtension)?.ca === true;
}

function parsePem(pem: string): x509.X509Certificate[] {
  return x509.PemConverter.decode(pem).map((der) => new x509.X509Certificate(der));
}

/** Most verified chains a verifier remembers (the oldest goes first). */
const MAX_VERIFIED_CHAINS = 1000;

/**
 * Reads a peer's workload identity from its certificate chain, and checks it
 * independently of the TLS stack: the chain must lead, by signatures, from
 * the leaf through CA certificates to a root of the trust bundle (certificates
 * the peer sent are candidates, never anchors), every certificate on it must
 * be valid now, and the leaf must carry exactly one URI SAN, a meshlet SPIFFE
 * ID of this trust domain. Both ends use it: a callee to learn who calls, a
 * caller to check that the callee is the service it meant to reach.
 */
export class PeerIdentityVerifier {
  /**
   * Chains already verified, by their bytes and the service expected, with
   * the window in which every certificate on the path is valid: the same
   * bytes chain to the same roots through the same signatures, so a known
   * chain costs a hash and a clock check instead of parsing and signature
   * checks (about 9 ms of JavaScript per new connection otherwise). A new
   * trust bundle means a new verifier, and so an empty cache.
   */
  readonly #verified = new Map<string, { identity: PeerIdentity; from: number; until: number }>();
  readonly #roots: x509.X509Certificate[];
  readonly #known: x509.X509Certificate[];
  readonly #trustDomain: string;
  readonly #clock: Clock;

  constructor(options: PeerIdentityVerifierOptions) {
    this.#trustDomain = checkTrustDomain(options.trustDomain);
    this.#clock = options.clock;
    try {
      this.#roots = options.trustBundle.flatMap(parsePem);
      this.#known = (options.knownIntermediates ?? []).flatMap(parsePem);
    } catch (e) {
      throw new MeshletError(
        SharedErrorCodes.PEER_IDENTITY_REFUSED,
        `the trust bundle holds a certificate that cannot be parsed (${(e as Error).message}); give PEM certificates`,
        { cause: e },
      );
    }
    if (this.#roots.length === 0) {
      throw new MeshletError(
        SharedErrorCodes.PEER_IDENTITY_REFUSED,
        'the trust bundle is empty; give at least one root certificate as PEM',
      );
    }
  }

  /**
   * The peer's identity, or why it has none. With `expectedService`, an
   * identity of another service is refused too (`wrong-service`).
   */
  async verify(peer: PeerChain, expectedService?: string): Promise<PeerIdentity> {
    const ders = peerChainDer(peer);
    if (ders.length === 0) return refuse('no-certificate', 'the peer presented no certificate');
    const hash = createHash('sha256');
    for (const der of ders) hash.update(der);
    const key = `${hash.digest('base64')} ${expectedService ?? ''}`;
    const known = this.#verified.get(key);
    const now = this.#clock();
    if (known !== undefined && now >= known.from && now <= known.until) return known.identity;
    const verdict = await this.#check(ders, expectedService);
    if (verdict.identity.ok) {
      this.#verified.delete(key);
      this.#verified.set(key, verdict);
      if (this.#verified.size > MAX_VERIFIED_CHAINS)
        this.#verified.delete(this.#verified.keys().next().value as string);
    }
    return verdict.identity;
  }

  /** {@link verify} without the cache, with the window in which every certificate on the path is valid. */
  async #check(
    ders: Uint8Array[],
    expectedService: string | undefined,
  ): Promise<{ identity: PeerIdentity; from: number; until: number }> {
    const no = (identity: PeerIdentity) => ({ identity, from: 0, until: 0 });
    let presented: x509.X509Certificate[];
    try {
      presented = ders.map((der) => new x509.X509Certificate(der));
    } catch (e) {
      return no(refuse('malformed', `the peer's certificate cannot be parsed: ${(e as Error).message}`));
    }
    const leaf = presented[0] as x509.X509Certificate;
    if (isCa(leaf))
      return no(refuse('untrusted', `the peer presented a CA certificate (${leaf.subject}), not a workload's`));

    const path = await this.#pathToRoot(leaf, [...presented.slice(1), ...this.#known]);
    if (path === undefined) {
      return no(
        refuse('untrusted', `the peer's certificate (${leaf.subject}) does not chain to a root of the trust bundle`),
      );
    }
    const now = new Date(this.#clock());
    for (const cert of path) {
      const which = cert === leaf ? "the peer's certificate" : `its issuer ${cert.subject}`;
      if (now > cert.notAfter) return no(refuse('expired', `${which} expired at ${cert.notAfter.toISOString()}`));
      if (now < cert.notBefore) {
        return no(refuse('not-yet-valid', `${which} is valid only from ${cert.notBefore.toISOString()}`));
      }
    }
    return {
      identity: this.#identityOf(leaf, expectedService),
      from: Math.max(...path.map((c) => c.notBefore.getTime())),
      until: Math.min(...path.map((c) => c.notAfter.getTime())),
    };
  }

  /** The chain from `leaf` to a trusted root, by signatures; `undefined` when there is none. */
  async #pathToRoot(
    leaf: x509.X509Certificate,
    intermediates: x509.X509Certificate[],
  ): Promise<x509.X509Certificate[] | undefined> {
    const path = [leaf];
    let current = leaf;
    while (path.length < MAX_CHAIN) {
      for (const root of this.#roots) {
        if (root.subject === current.issuer && (await signedBy(current, root))) return [...path, root];
      }
      let next: x509.X509Certificate | undefined;
      for (const candidate of intermediates) {
        if (
          candidate.subject === current.issuer &&
          isCa(candidate) &&
          !path.some((c) => sameDer(c, candidate)) &&
          (await signedBy(current, candidate))
        ) {
          next = candidate;
          break;
        }
      }
      if (next === undefined) return undefined;
      path.push(next);
      current = next;
    }
    return undefined;
  }

  #identityOf(leaf: x509.X509Certificate, expectedService: string | undefined): PeerIdentity {
    let uris: string[];
    try {
      const san = leaf.getExtension(x509.SubjectAlternativeNameExtension);
      uris = (san?.names.items ?? []).filter((n) => n.type === 'url').map((n) => n.value);
    } catch (e) {
      return refuse('not-spiffe', `the peer's subject alternative names cannot be read: ${(e as Error).message}`);
    }
    // An X.509-SVID carries exactly one URI SAN (SPIFFE X.509-SVID spec, 4.1).
    if (uris.length !== 1) {
      return refuse('not-spiffe', `the peer's certificate has ${uris.length} URI SANs; a SPIFFE certificate has one`);
    }
    const uri = uris[0] as string;
    let id: SpiffeId;
    try {
      id = parseSpiffeId(uri, 'the URI SAN');
    } catch (e) {
      return refuse('not-spiffe', (e as Error).message);
    }
    if (id.trustDomain !== this.#trustDomain) {
      return refuse('wrong-trust-domain', `the peer is ${uri}, of another trust domain than ${this.#trustDomain}`);
    }
    if (expectedService !== undefined && id.service !== expectedService) {
      return refuse('wrong-service', `the peer is ${uri}, not the service ${JSON.stringify(expectedService)}`);
    }
    const [commonName] = leaf.subjectName.getField('CN');
    const instanceId = commonName === undefined ? undefined : instanceFromCommonName(commonName, uri);
    return { ok: true, id, uri, instanceId, notAfter: leaf.notAfter };
  }
}

async function signedBy(cert: x509.X509Certificate, issuer: x509.X509Certificate): Promise<boolean> {
  try {
    return await cert.verify({ publicKey: issuer.publicKey, signatureOnly: true });
  } catch {
    return false;
  }
}

/** A refused {@link PeerIdentity} as a `MESHLET_PEER_IDENTITY_REFUSED` error, for callers that throw. */
export function peerIdentityError(result: Extract<PeerIdentity, { ok: false }>): MeshletError {
  return new MeshletError(SharedErrorCodes.PEER_IDENTITY_REFUSED, `peer refused (${result.reason}): ${result.message}`);
}
