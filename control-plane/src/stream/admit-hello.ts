import { CloseCodes, type Hello, type Logger, PROTOCOL_VERSION, SharedErrorCodes } from '@meshlet/shared';
import { ControlPlaneErrorCodes } from '../errors.js';
import type { JoinDecision } from '../join/check-join.js';
import type { ControlPlaneMetrics } from '../metrics.js';

/** What {@link admitHello} needs from the session's context. */
export interface AdmissionContext {
  checkJoin: (hello: Hello) => JoinDecision;
  metrics: ControlPlaneMetrics;
  log: Logger;
  refusal?: () => string | undefined;
}

/** A hello admitted (with the join credential it used, if any), or turned away with an error code, a message and a close code. */
export type Admission =
  { ok: true; credentialId?: string } | { ok: false; code: string; message: string; closeCode: number };

/**
 * Decides whether a hello may join, in order: the protocol version, the
 * join token or credential (a refusal is counted by reason and logged
 * with the credential's id, never the token), and whether this replica
 * turns agents away right now.
 */
export function admitHello(hello: Hello, ctx: AdmissionContext, remoteAddress: string): Admission {
  if (hello.protocolVersion !== PROTOCOL_VERSION) {
    return {
      ok: false,
      code: SharedErrorCodes.PROTOCOL_VERSION_MISMATCH,
      message: `protocol version ${hello.protocolVersion} is not supported; this control plane speaks ${PROTOCOL_VERSION}: upgrade the agent or the control plane`,
      closeCode: CloseCodes.VERSION_MISMATCH,
    };
  }
  const join = ctx.checkJoin(hello);
  if (!join.ok) {
    ctx.metrics.joinRefusals.inc({ reason: join.reason });
    const { credentialId, reason } = join;
    ctx.log.warn(
      { agentId: hello.agentId, remoteAddress, service: hello.instance?.service, credentialId, reason },
      `refused agent hello: ${join.message}`,
    );
    return {
      ok: false,
      code: ControlPlaneErrorCodes.JOIN_TOKEN_INVALID,
      message: join.message,
      closeCode: CloseCodes.UNAUTHORIZED,
    };
  }
  const refused = ctx.refusal?.();
  if (refused !== undefined)
    return { ok: false, code: ControlPlaneErrorCodes.REPLICA_CUT_OFF, message: refused, closeCode: CloseCodes.CUT_OFF };
  return join.credentialId === undefined ? { ok: true } : { ok: true, credentialId: join.credentialId };
}
