import { CloseCodes, type Hello, type Logger, PROTOCOL_VERSION, SharedErrorCodes } from '@meshlet/shared';
import { ControlPlaneErrorCodes } from '../errors.js';
import { type JoinDecision, type JoinRefusal, WRONG_CREDENTIAL } from '../join/check-join.js';
import type { ControlPlaneMetrics } from '../metrics.js';
import { certificateJoin } from './certificate-join.js';
import type { CertifiedAgent } from './stream-certificate-auth.js';
import type { JoinThrottle } from './stream-upgrade.js';

/** What {@link admitHello} needs from the session's context. */
export interface AdmissionContext {
  checkJoin: (hello: Hello) => JoinDecision;
  /**
   * Whether a certificate issued under the join credential `id` still proves
   * who the agent is: the credential is not revoked (its expiry does not
   * matter). `undefined`: the certificate names no credential (issued on the
   * shared token), which stands only where the shared token is allowed.
   */
  credentialActive?: (id: string | undefined) => boolean;
  metrics: ControlPlaneMetrics;
  log: Logger;
  refusal?: () => string | undefined;
  /** Wrong credentials per address (shared with the upgrade); absent: not throttled. */
  throttle?: JoinThrottle;
}

/**
 * A hello admitted (with the join credential it used and that credential's
 * service, if any, or the workload certificate that authenticated it and its
 * service), or turned away with an error code, a message and a close code.
 */
export type Admission =
  | { ok: true; credentialId?: string; service?: string; certificate?: CertifiedAgent }
  | { ok: false; code: string; message: string; closeCode: number };

/** What holds an agent id now (its live session, or its record, local or from another replica), as far as admission cares. */
export interface AgentIdHolder {
  /** The service of the per-service credential it was admitted with, if any. */
  admittedFor?: string | undefined;
  instance?: { service: string; id?: string } | undefined;
  /** Whether it is connected now (a live session is; a record may be gone). Absent: connected. */
  connected?: boolean;
  /** Set when it is connected to another replica; `orphaned`: that replica went away. */
  replica?: { orphaned: boolean } | undefined;
}

/** Whether `h` is a live agent that fronts an instance. */
const frontsLiveInstance = (h: AgentIdHolder): boolean =>
  h.instance !== undefined && h.connected !== false && h.replica?.orphaned !== true;

/** The service, other than `service`, that one of `holders` was admitted for or registered an instance of, if any. */
function otherService(service: string, holders: readonly AgentIdHolder[]): string | undefined {
  for (const h of holders) {
    if (h.admittedFor !== undefined && h.admittedFor !== service) return h.admittedFor;
    const registered = h.instance?.service;
    if (registered !== undefined && registered !== service) return registered;
  }
  return undefined;
}

/**
 * How an admitted agent authenticated, as `meshlet_cp_stream_admissions_total`
 * counts it.
 */
export function admissionAuth(
  admitted: Extract<Admission, { ok: true }>,
  hello: Hello,
): 'certificate' | 'credential' | 'shared_token' | 'open' {
  if (admitted.certificate !== undefined) return 'certificate';
  if (admitted.credentialId !== undefined) return 'credential';
  return hello.joinToken === undefined ? 'open' : 'shared_token';
}

/**
 * Decides whether a hello may join, in order: the protocol version, the
 * workload certificate the stream presented, if valid (then the hello must
 * claim its service and instance, see {@link certificateJoin}), else the
 * join token or credential (a refusal is counted by reason and logged
 * with the credential's id, never the token), whether the hello would
 * take over an agent id that `holders` hold, and whether this replica
 * turns agents away right now. Takeovers refused (otherwise the hello
 * closes the holder with 4009 and drops its instance): a per-service
 * credential taking an id held for another service, and the shared token
 * taking an id held by a credential's agent (both `wrong_service`); a hello
 * without an instance taking the id of a live agent that fronts one
 * (`instance_held`). A wrong credential counts against the address in
 * `ctx.throttle`; from a blocked address it is refused with
 * `MESHLET_TOO_MANY_JOIN_FAILURES` (close 4029), while a valid one passes.
 */
export function admitHello(
  hello: Hello,
  ctx: AdmissionContext,
  remoteAddress: string,
  holders: readonly AgentIdHolder[] = [],
  certificate?: CertifiedAgent,
): Admission {
  if (hello.protocolVersion !== PROTOCOL_VERSION) {
    return {
      ok: false,
      code: SharedErrorCodes.PROTOCOL_VERSION_MISMATCH,
      message: `protocol version ${hello.protocolVersion} is not supported; this control plane speaks ${PROTOCOL_VERSION}: upgrade the agent or the control plane`,
      closeCode: CloseCodes.VERSION_MISMATCH,
    };
  }
  const refuse = (reason: JoinRefusal, message: string, credentialId: string | undefined): Admission => {
    ctx.metrics.joinRefusals.inc({ reason });
    ctx.log.warn(
      {
        agentId: hello.agentId,
        remoteAddress,
        service: hello.instance?.service ?? hello.service,
        credentialId,
        certificate: certificate?.spiffeId,
        reason,
      },
      `refused agent hello: ${message}`,
    );
    return { ok: false, code: ControlPlaneErrorCodes.JOIN_TOKEN_INVALID, message, closeCode: CloseCodes.UNAUTHORIZED };
  };
  // A certificate issued under a credential since revoked (or on a shared token no longer allowed) proves nothing
  // any more: the hello's credential decides.
  if (certificate !== undefined && ctx.credentialActive?.(certificate.credentialId) === false) {
    ctx.log.warn(
      {
        agentId: hello.agentId,
        remoteAddress,
        certificate: certificate.spiffeId,
        credentialId: certificate.credentialId,
      },
      certificate.credentialId === undefined
        ? 'ignored a client certificate that names no join credential (issued on the shared token, not allowed now); the hello must bring a valid credential'
        : 'ignored a client certificate issued under a revoked join credential; the hello must bring a valid credential',
    );
    certificate = undefined;
  }
  const join = certificate === undefined ? ctx.checkJoin(hello) : certificateJoin(hello, certificate);
  if (!join.ok && WRONG_CREDENTIAL.has(join.reason) && ctx.throttle !== undefined) {
    const waitMs = ctx.throttle.blockedForMs(remoteAddress);
    if (waitMs > 0) {
      // Not logged one by one: a blocked address may send hundreds; the block itself was logged.
      ctx.metrics.joinRefusals.inc({ reason: join.reason });
      return {
        ok: false,
        code: ControlPlaneErrorCodes.TOO_MANY_JOIN_FAILURES,
        message: `too many wrong join credentials came from ${remoteAddress}; only a valid one is let in for ${Math.ceil(waitMs / 1000)} s: ${join.message}`,
        closeCode: CloseCodes.TOO_MANY_JOIN_FAILURES,
      };
    }
    ctx.throttle.failed(remoteAddress);
  }
  if (!join.ok) return refuse(join.reason, join.message, join.credentialId);
  const { credentialId, service } = join;
  const other = service === undefined ? undefined : otherService(service, holders);
  if (other !== undefined) {
    const message = `a credential for ${service} cannot take over agent ${hello.agentId} of ${other}`;
    return refuse('wrong_service', message, credentialId);
  }
  const bound = service === undefined ? holders.find((h) => h.admittedFor !== undefined)?.admittedFor : undefined;
  if (bound !== undefined) {
    const message = `the shared join token cannot take over agent ${hello.agentId}, admitted with a credential for ${bound}: use a credential for ${bound}`;
    return refuse('wrong_service', message, credentialId);
  }
  // A certificate speaks for one instance: it cannot take over the agent id of another live one of its service.
  const otherInstance =
    certificate === undefined
      ? undefined
      : holders.find(
          (h) => frontsLiveInstance(h) && h.instance?.id !== undefined && h.instance.id !== certificate.instanceId,
        );
  if (otherInstance !== undefined) {
    const message = `a certificate of instance ${certificate?.instanceId} cannot take over agent ${hello.agentId}, which fronts instance ${otherInstance.instance?.id}`;
    return refuse('wrong_instance', message, credentialId);
  }
  if (hello.instance === undefined && holders.some(frontsLiveInstance)) {
    const message = `agent ${hello.agentId} is connected and fronts an instance; a client-only agent cannot take its id over: give it its own agentId`;
    return refuse('instance_held', message, credentialId);
  }
  const refused = ctx.refusal?.();
  if (refused !== undefined)
    return { ok: false, code: ControlPlaneErrorCodes.REPLICA_CUT_OFF, message: refused, closeCode: CloseCodes.CUT_OFF };
  return {
    ok: true,
    ...(credentialId === undefined ? {} : { credentialId }),
    ...(service === undefined ? {} : { service }),
    ...(certificate === undefined ? {} : { certificate }),
  };
}
