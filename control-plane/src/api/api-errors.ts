import { compileValidator, httpErrorBody, MeshletError, MeshletHttpError, type ValidationIssue } from '@meshlet/shared';
import type { TSchema } from '@sinclair/typebox';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { ApiErrors, ControlPlaneErrorCodes } from '../errors.js';

/** The JSON every admin API error has. */
export interface ApiErrorBody {
  error: { code: string; message: string; field?: string; issues?: ValidationIssue[]; leader?: string };
}

/** Sends `err` in the admin API's shape, with the status bound to its code (see {@link ApiErrors}). */
export function sendError(
  reply: FastifyReply,
  err: MeshletHttpError,
  extra: { field?: string; issues?: ValidationIssue[]; leader?: string } = {},
): FastifyReply {
  const body: ApiErrorBody = httpErrorBody(err, extra);
  return reply.code(err.statusCode).send(body);
}

/** A validation failure carrying the issues, as the validator compiler raises it. */
class ValidationError extends Error {
  readonly statusCode = 400;
  readonly issues: ValidationIssue[];
  readonly part: string;
  constructor(part: string, issues: ValidationIssue[]) {
    super(`invalid ${part}: ${issues.map((i) => `${i.path || '(root)'} ${i.problem}`).join('; ')}`);
    this.issues = issues;
    this.part = part;
  }
}

const PART_NAMES: Record<string, string> = {
  body: 'body',
  params: 'path parameter',
  querystring: 'query',
  headers: 'header',
};

/**
 * Validates bodies, parameters and queries with the same validator as the
 * config files (field path, problem and fix for each issue; unknown fields
 * refused, never silently dropped), and turns every error into the admin
 * API's JSON: 400 with the issues, 413 for an oversized body, 503 when the
 * store cannot commit a write, and the status fastify chose otherwise.
 */
export function installApiErrors(app: FastifyInstance): void {
  app.setValidatorCompiler(({ schema, httpPart }) => {
    // Defaults are filled in a copy, only to validate: the handler sees what was sent.
    const validate = compileValidator(schema as TSchema, { useDefaults: true });
    const part = PART_NAMES[httpPart ?? ''] ?? httpPart ?? 'request';
    return (data: unknown) => {
      const result = validate(structuredClone(data));
      return result.ok ? { value: data } : { error: new ValidationError(part, result.issues) };
    };
  });
  app.setErrorHandler((err: FastifyError & { issues?: ValidationIssue[] }, req, reply) => {
    if (err instanceof ValidationError) {
      const first = err.issues[0];
      return sendError(reply, ApiErrors.API_INVALID(err.message), {
        ...(first?.path ? { field: first.path } : {}),
        issues: err.issues,
      });
    }
    if (err instanceof RangeError && /call stack/.test(err.message)) {
      return sendError(reply, ApiErrors.API_INVALID('the body is nested too deeply'));
    }
    if (err.code === 'FST_ERR_CTP_BODY_TOO_LARGE') {
      return sendError(reply, ApiErrors.API_TOO_LARGE(`${err.message}; send a smaller body`));
    }
    if (err instanceof MeshletError && err.code === ControlPlaneErrorCodes.STORE_UNAVAILABLE) {
      // Quorum lost: the write did not happen (or may apply later), the replica keeps serving from memory; the message says so.
      req.log.warn({ err }, 'admin API write refused: the store cannot commit');
      return sendError(reply, ApiErrors.STORE_UNAVAILABLE(err.message, { cause: err }));
    }
    // An error of the API's own, thrown rather than sent: its code and status as bound.
    if (err instanceof MeshletHttpError && err.code !== ControlPlaneErrorCodes.INTERNAL) return sendError(reply, err);
    const status = err.statusCode ?? 500;
    // Fastify's own refusals (415, 406, ...) and failures keep the status fastify chose.
    if (status >= 500) {
      req.log.error({ err }, 'admin API request failed');
      return sendError(reply, ApiErrors.INTERNAL('internal error; see the control plane log', { statusCode: status }));
    }
    return sendError(reply, ApiErrors.API_INVALID(err.message, { statusCode: status }));
  });
  app.setNotFoundHandler((req, reply) =>
    sendError(reply, ApiErrors.NOT_FOUND(`no route ${req.method} ${req.url.split('?')[0]}; see /docs for the API`)),
  );
}

/**
 * Fastify's own refusals before any route runs, in the admin API's shape:
 * the `frameworkErrors` option of the server. A path whose percent-encoding
 * is broken (`/v1/services/%zz`) gets 400 and a path parameter over
 * fastify's length limit 414, each `MESHLET_API_INVALID` naming the path and
 * the fix; without it fastify answers in its own shape, with no MESHLET_* code.
 */
export function apiFrameworkErrors(err: FastifyError, req: FastifyRequest, reply: FastifyReply): void {
  const path = (req.raw.url ?? '').split('?')[0] ?? '';
  const shown = path.length > 200 ? `${path.slice(0, 200)}...` : path;
  const message =
    err.code === 'FST_ERR_MAX_PARAM_LENGTH'
      ? `a path parameter of ${shown} is too long: service names, ids and instance ids are short (see /docs)`
      : `the path ${shown} is not a valid URL: a "%" must start an escape such as %2F; write %25 for "%" itself`;
  void sendError(reply, ApiErrors.API_INVALID(message, { statusCode: err.statusCode ?? 400 }), { field: 'path' });
}
