import { type Static, Type } from '@sinclair/typebox';

/**
 * The budget of one routing table, the same setting on the control plane
 * (checked before a policy is accepted and before a table is sent) and on
 * every agent (checked before a table is built). Keep them equal: an agent
 * with a smaller budget refuses tables its control plane sends.
 */
export const TableBudgetConfig = Type.Object(
  {
    /** Hash-table entries in all (ring points and Maglev slots) over the ring_hash and maglev services. */
    maxHashEntries: Type.Integer({
      minimum: 1024,
      maximum: 268_435_456,
      default: 16_777_216,
      fix: 'use at most 268435456; each entry costs 4 to 24 bytes on every agent',
    }),
    /** Services in one table. */
    maxServices: Type.Integer({ minimum: 1, maximum: 1_000_000, default: 10_000 }),
    /** Endpoints in one table, all services together. */
    maxEndpoints: Type.Integer({ minimum: 1, maximum: 10_000_000, default: 100_000 }),
  },
  { default: {}, additionalProperties: false },
);
/** {@inheritDoc TableBudgetConfig} */
export type TableBudgetConfig = Static<typeof TableBudgetConfig>;
