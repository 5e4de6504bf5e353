import { CoordName, compileValidator, HolderLabel, httpErrorBody, LeaseTtlMs, type Validator } from '@meshlet/shared';
import { type Static, type TSchema, Type } from '@sinclair/typebox';
import type { FastifyReply } from 'fastify';
import { AgentErrors } from '../errors.js';

/** The longest an acquire may wait, and a long-poll hold (five minutes). */
export const MAX_WAIT_MS = 300_000;
/** The longest a campaign may wait (one hour), its default too: until the app goes away. */
export const MAX_CAMPAIGN_WAIT_MS = 3_600_000;

const Token = Type.Integer({
  minimum: 1,
  maximum: 2 ** 53 - 1,
  fix: 'give the token (or term) the acquire or campaign answered, a positive integer',
});
const waitMs = (max: number) => Type.Integer({ minimum: 0, maximum: max, fix: `give a wait from 0 to ${max} ms` });
const options = { additionalProperties: false } as const;

/** `POST /v1/locks/NAME`. */
export const LockAcquireBody = Type.Object(
  {
    ttlMs: Type.Optional(LeaseTtlMs),
    waitMs: Type.Optional(waitMs(MAX_WAIT_MS)),
    label: Type.Optional(HolderLabel),
    releaseOnUnhealthy: Type.Optional(Type.Boolean()),
  },
  options,
);
/** `POST /v1/elections/NAME/campaign`. */
export const CampaignBody = Type.Object(
  {
    ttlMs: Type.Optional(LeaseTtlMs),
    waitMs: Type.Optional(waitMs(MAX_CAMPAIGN_WAIT_MS)),
    label: Type.Optional(HolderLabel),
    releaseOnUnhealthy: Type.Optional(Type.Boolean()),
  },
  options,
);
/** `PUT /v1/locks/NAME`. */
export const LockRenewBody = Type.Object({ token: Token, ttlMs: Type.Optional(LeaseTtlMs) }, options);
/** `PUT /v1/elections/NAME`. */
export const TermRenewBody = Type.Object({ term: Token, ttlMs: Type.Optional(LeaseTtlMs) }, options);
/** `DELETE /v1/locks/NAME?token=T`. */
export const TokenQuery = Type.Object({ token: Token }, options);
/** `DELETE /v1/elections/NAME?term=T`. */
export const TermQuery = Type.Object({ term: Token }, options);
/** `GET …?index=R&waitMs=W`: a long-poll when `index` is given. */
export const LongPollQuery = Type.Object(
  {
    index: Type.Optional(Type.Integer({ minimum: 0, fix: 'give the revision of the state you have (0 for none)' })),
    waitMs: Type.Optional(waitMs(MAX_WAIT_MS)),
  },
  options,
);
/** Coordination names the mesh keeps for itself (such as `meshlet.failover`): the app API refuses them. */
export const RESERVED_PREFIX = 'meshlet.';

/** The `:name` path parameter. */
export const NameParams = Type.Object({ name: CoordName });

const validators = new Map<TSchema, Validator<TSchema>>();

/**
 * Validates one part of a coordination request (`body`, `query`, the path
 * `params`) against its schema: the typed value, or a 400
 * `MESHLET_BAD_REQUEST` sent on `reply` naming the first bad field and the
 * fix, every issue listed (then undefined: the handler returns).
 */
export function coordInput<T extends TSchema>(
  schema: T,
  value: unknown,
  part: 'body' | 'query' | 'params',
  reply: FastifyReply,
): Static<T> | undefined {
  let validate = validators.get(schema);
  // Query strings and path parameters are text: numbers and booleans are read from it.
  if (validate === undefined)
    validators.set(schema, (validate = compileValidator(schema, { coerceTypes: part !== 'body' })));
  const checked = validate(value ?? {});
  if (checked.ok) {
    const name = part === 'params' ? (checked.value as { name?: unknown }).name : undefined;
    if (typeof name !== 'string' || !name.startsWith(RESERVED_PREFIX)) return checked.value as Static<T>;
    // The mesh's own elections (FAILOVER_ELECTION): an app beside a database must not seize or release its primary.
    const err = AgentErrors.BAD_REQUEST(
      `path segment "name" "${name}" is reserved: names starting "${RESERVED_PREFIX}" are the mesh's own ` +
        '(its managed failover election); choose a name without that prefix',
    );
    void reply.code(err.statusCode).send(httpErrorBody(err, { field: 'name' }));
    return undefined;
  }
  const first = checked.issues[0];
  const field = first?.path || part;
  const where = part === 'body' ? 'field' : part === 'query' ? 'query parameter' : 'path segment';
  const err = AgentErrors.BAD_REQUEST(
    first === undefined
      ? `the ${part} is not valid`
      : `${where} "${field}" ${first.problem}: ${first.fix}` +
          (part === 'body' && first.path === '' ? ' (send a JSON object, such as {"ttlMs": 15000})' : ''),
  );
  void reply.code(err.statusCode).send(httpErrorBody(err, { field, issues: checked.issues }));
  return undefined;
}
