/** The outcome of one probe of the local app. */
export interface ProbeResult {
  ok: boolean;
  /** Why it failed, or what it saw. */
  detail: string;
}

/** One kind of active check of the local app (HTTP, gRPC), over one interface. */
export interface HealthCheck {
  probe(): Promise<ProbeResult>;
  /** Releases what the check keeps between probes (a connection), when the monitor stops. */
  close?(): void;
}
