/** The agent's current workload certificate, key and trust bundle (all PEM). */
export interface WorkloadCertificate {
  /** `spiffe://<trustDomain>/svc/<service>` */
  spiffeId: string;
  trustDomain: string;
  service: string;
  instanceId: string;
  /** PKCS#8 private key; never logged. */
  keyPem: string;
  /** The leaf followed by its issuer chain (never the root). */
  certChainPem: string;
  /** The roots every peer is checked against (one or more). */
  trustBundlePem: string;
  /**
   * The mesh's issuers from the routing table's trust bundle, PEM: besides
   * its own, what a peer's chain may be built with (during a root rotation,
   * peers are certified by the new issuer before this agent is).
   */
  knownIssuersPem?: string;
  /** When the leaf expires, ms since the epoch. */
  notAfterMs: number;
}

/** Where the listeners get the agent's identity from; it changes on every renewal and bundle change. */
export interface WorkloadIdentity {
  current(): WorkloadCertificate | undefined;
  /** Calls `listener` after every change; returns a function that unsubscribes. */
  onChange(listener: (certificate: WorkloadCertificate) => void): () => void;
}
