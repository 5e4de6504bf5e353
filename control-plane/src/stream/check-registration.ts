import { CloseCodes, type Hello, type Logger } from '@meshlet/shared';
import { ControlPlaneErrorCodes } from '../errors.js';
import type { ControlPlaneMetrics } from '../metrics.js';
import type { AdvertisedAddressCheck } from '../registry/advertised-address-check.js';

/** What {@link checkRegistration} needs. */
export interface RegistrationCheckContext {
  addressCheck: AdvertisedAddressCheck;
  metrics: ControlPlaneMetrics;
  log: Logger;
}

/** A registration turned away: the error code, the message for the agent, the close code. */
export interface RegistrationRefusal {
  code: string;
  message: string;
  closeCode: number;
}

/**
 * Checks the instance an admitted hello registers (a client-only agent
 * registers nothing): its advertised address must be where the agent
 * connects from, or in an allowed range ({@link AdvertisedAddressCheck}).
 * A refusal is counted (`meshlet_cp_registration_refusals_total{reason}`),
 * logged at warn with the agent, its address and the address it claimed,
 * and closes the stream (4003) before anything of it reaches the registry,
 * so no caller is ever sent to that address and its service name is not
 * remembered.
 */
export function checkRegistration(
  hello: Hello,
  remoteAddress: string,
  ctx: RegistrationCheckContext,
): RegistrationRefusal | undefined {
  const instance = hello.instance;
  if (!instance) return undefined;
  const verdict = ctx.addressCheck.check(instance.host, remoteAddress);
  if (verdict.ok) return undefined;
  ctx.metrics.registrationRefusals.inc({ reason: verdict.reason });
  ctx.log.warn(
    {
      agentId: hello.agentId,
      remoteAddress,
      service: instance.service,
      instanceId: instance.id,
      advertised: `${instance.host}:${instance.port}`,
      reason: verdict.reason,
    },
    `refused registration: ${verdict.message}`,
  );
  return {
    code: ControlPlaneErrorCodes.REGISTRATION_REFUSED,
    message: verdict.message,
    closeCode: CloseCodes.UNAUTHORIZED,
  };
}
