import { createLogger } from '@meshlet/shared';
import { describe, expect, it, vi } from 'vitest';
import type { Store } from '../store/store.js';
import type { ControlPlaneParts } from './create-parts.js';
import { watchStore } from './follow-store.js';

/** A shared store's change feed, fired by hand; nothing else of the store is used here. */
function feed(): { store: Store; change: (key?: string) => void } {
  let listener: (key: string) => void = () => undefined;
  const store = {
    get: () => undefined,
    onChange: (l: (key: string) => void) => {
      listener = l;
      return () => undefined;
    },
  } as unknown as Store;
  return { store, change: (key = 'join-credentials/x') => listener(key) };
}

describe('watchStore', () => {
  it('sends revoked agents away even when following the change failed', async () => {
    const { store, change } = feed();
    const parts = {
      policies: {
        reload: () => {
          throw new Error('a policy in the store does not parse');
        },
      },
    } as unknown as ControlPlaneParts;
    const log = createLogger('test', 'silent');
    const errors = vi.spyOn(log, 'error');
    const afterFollow = vi.fn();
    watchStore(store, parts, log, afterFollow);
    change();
    await new Promise<void>((resolve) => queueMicrotask(resolve));
    expect(afterFollow).toHaveBeenCalledTimes(1);
    expect(errors).toHaveBeenCalledWith(expect.anything(), 'could not follow a change of the store');
  });

  it('logs a failure of afterFollow and keeps following', async () => {
    const { store, change } = feed();
    const reload = vi.fn();
    const authzReload = vi.fn();
    const parts = {
      policies: { reload },
      authz: { reload: authzReload },
      health: { syncDrains: () => undefined },
      drains: { stored: () => [] },
      registry: { replaceKnownServices: () => undefined },
      pusher: { schedule: () => undefined },
    } as unknown as ControlPlaneParts;
    const log = createLogger('test', 'silent');
    const errors = vi.spyOn(log, 'error');
    const afterFollow = vi.fn(() => {
      throw new Error('boom');
    });
    watchStore(store, parts, log, afterFollow);
    change();
    await new Promise<void>((resolve) => queueMicrotask(resolve));
    change();
    await new Promise<void>((resolve) => queueMicrotask(resolve));
    expect(afterFollow).toHaveBeenCalledTimes(2);
    expect(reload).toHaveBeenCalledTimes(2);
    expect(authzReload).toHaveBeenCalledTimes(2);
    expect(errors).toHaveBeenCalledTimes(2);
  });

  it("attack: another replica's lock traffic (coord/ keys and release notes) reloads no policy and pushes no table", async () => {
    const { store, change } = feed();
    const reload = vi.fn();
    const schedule = vi.fn();
    const parts = {
      policies: { reload },
      authz: { reload: () => undefined },
      health: { syncDrains: () => undefined },
      drains: { stored: () => [] },
      registry: { replaceKnownServices: () => undefined },
      pusher: { schedule },
    } as unknown as ControlPlaneParts;
    watchStore(store, parts, createLogger('test', 'silent'));
    for (let i = 0; i < 50; i++) {
      change(`coord/lock/orders/name-${i}`);
      change(`coord-note/lock/orders/name-${i}`);
      await new Promise<void>((resolve) => queueMicrotask(resolve));
    }
    expect(reload).not.toHaveBeenCalled();
    expect(schedule).not.toHaveBeenCalled();
    change('policies/orders');
    await new Promise<void>((resolve) => queueMicrotask(resolve));
    expect(schedule).toHaveBeenCalledTimes(1);
  });
});
