import type { Logger } from '@meshlet/shared';
import { isEphemeralKey, type Store } from '../store/store.js';
import { type ControlPlaneParts, storedServices } from './create-parts.js';

/** Re-derives what comes from the store (policies, drains, known services) after it changed under this control plane, and pushes. */
export function followStore(store: Store, parts: ControlPlaneParts): void {
  parts.policies.reload();
  parts.authz.reload();
  parts.health.syncDrains(parts.drains.stored());
  parts.registry.replaceKnownServices(storedServices(store));
  parts.pusher.schedule();
}

/**
 * Follows writes made through another replica. They arrive one key at a
 * time (one transaction can carry several); they are followed once per turn
 * of the event loop, so a push never sees half of a transaction (a lock's
 * key or release note is no reason to: see `EPHEMERAL_PREFIXES`); then
 * `afterFollow` runs (sending away agents whose credential was revoked). Returns
 * the function that stops following.
 */
export function watchStore(
  store: Store,
  parts: ControlPlaneParts,
  log: Logger,
  afterFollow?: () => void,
): (() => void) | undefined {
  let following = false;
  return store.onChange?.((key) => {
    // Application locks and their notes change all the time and touch no policy, drain or table.
    if (following || isEphemeralKey(key)) return;
    following = true;
    queueMicrotask(() => {
      following = false;
      try {
        followStore(store, parts);
      } catch (e) {
        log.error({ err: e }, 'could not follow a change of the store');
      } finally {
        // Revoked credentials are acted on even when following failed: that is no reason to keep their agents.
        try {
          afterFollow?.();
        } catch (e) {
          log.error({ err: e }, 'could not act on a change of the store (sending away revoked agents)');
        }
      }
    });
  });
}
