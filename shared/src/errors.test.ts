import { describe, expect, it } from 'vitest';
import { defineHttpError, defineHttpErrors, httpErrorBody, MeshletError, MeshletHttpError } from './errors.js';

describe('defineHttpError', () => {
  const NOT_FOUND = defineHttpError('MESHLET_NOT_FOUND', 404);

  it('makes MeshletErrors of its code, answered with the status bound to it', () => {
    const err = NOT_FOUND('no service "a"');
    expect(err).toBeInstanceOf(MeshletError);
    expect(err).toBeInstanceOf(MeshletHttpError);
    expect(err.code).toBe('MESHLET_NOT_FOUND');
    expect(err.statusCode).toBe(404);
    expect(err.message).toBe('no service "a"');
    expect([NOT_FOUND.code, NOT_FOUND.statusCode]).toEqual(['MESHLET_NOT_FOUND', 404]);
  });

  it('keeps the cause, and lets one answer override the status', () => {
    const cause = new Error('etcd down');
    const err = NOT_FOUND('gone', { cause, statusCode: 410 });
    expect(err.cause).toBe(cause);
    expect(err.statusCode).toBe(410);
    expect('cause' in NOT_FOUND('no cause')).toBe(false);
  });
});

describe('defineHttpErrors', () => {
  it('binds the codes given a status, by their key, and leaves the others out', () => {
    const codes = { NOT_FOUND: 'MESHLET_NOT_FOUND', STORE_CORRUPT: 'MESHLET_STORE_CORRUPT' } as const;
    const errors = defineHttpErrors(codes, { NOT_FOUND: 404 });
    expect(Object.keys(errors)).toEqual(['NOT_FOUND']);
    expect([errors.NOT_FOUND.code, errors.NOT_FOUND.statusCode]).toEqual(['MESHLET_NOT_FOUND', 404]);
    expect(errors.NOT_FOUND('no agent "x"').statusCode).toBe(404);
  });
});

describe('httpErrorBody', () => {
  it('is { error: { code, message, ...extra } }', () => {
    const err = new MeshletHttpError('MESHLET_CONFLICT', 409, 'stale');
    expect(httpErrorBody(err)).toEqual({ error: { code: 'MESHLET_CONFLICT', message: 'stale' } });
    expect(JSON.stringify(httpErrorBody(err, { field: 'resourceVersion' }))).toBe(
      '{"error":{"code":"MESHLET_CONFLICT","message":"stale","field":"resourceVersion"}}',
    );
  });
});
