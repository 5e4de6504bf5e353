import { Type } from '@sinclair/typebox';
import { type ConnectionLimitDefaults, connectionLimitsSchema } from './connection-limits.js';

/** Log levels accepted by every meshlet binary. */
export const LogConfig = Type.Object(
  {
    level: Type.Union(
      ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].map((l) => Type.Literal(l)),
      { default: 'info' },
    ),
  },
  { default: {}, additionalProperties: false },
);

/** A listening address and its connection limits. `port` 0 asks the kernel for a free port. */
export function listenerSchema(host: string, port: number, limits: ConnectionLimitDefaults) {
  return Type.Object(
    {
      host: Type.String({ minLength: 1, default: host }),
      port: Type.Integer({ minimum: 0, maximum: 65535, default: port }),
      limits: connectionLimitsSchema(limits),
    },
    { default: {}, additionalProperties: false },
  );
}
