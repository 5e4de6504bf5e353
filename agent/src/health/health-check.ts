/** The outcome of one probe of the local app. */
export interface ProbeResult {
  ok: boolean;
  /** Why it failed, or what it saw. */
  detail: string;
}

/** One kind of active check of the local app (HTTP now; TCP, gRPC later), over one interface. */
export interface HealthCheck {
  probe(): Promise<ProbeResult>;
}
