import type { CoordState } from '@meshlet/shared';
import type { FastifyInstance } from 'fastify';
import type { Coordination } from '../coordination/coordination.js';
import { WaitCancelled } from '../coordination/lease-service.js';
import { streamCoordEvents } from './coordination-events.js';
import {
  CampaignBody,
  coordInput,
  LongPollQuery,
  MAX_CAMPAIGN_WAIT_MS,
  NameParams,
  TermQuery,
  TermRenewBody,
} from './coordination-input.js';
import { appGoneSignal, busy, heldBy, readState } from './coordination-reply.js';

/**
 * An election's lease when the app asks for none: a dead leader's lease
 * lapses within 3 s and the campaigners' agents ask again on the release
 * event, so a new leader is in place within 5 s by default.
 */
export const DEFAULT_ELECTION_TTL_MS = 3_000;

/** An election as the app reads it: the leader (null: none), its term, and the revision for long-polls. */
const electionView = (state: CoordState): Record<string, unknown> => ({
  name: state.name,
  service: state.service,
  leader: state.holder ?? null,
  term: state.token ?? null,
  ttlMs: state.ttlMs ?? null,
  revision: state.revision,
});

/**
 * The app's election API on the agent's admin listener (see
 * docs/coordination.md): `POST /v1/elections/NAME/campaign` blocks until
 * elected (the app closing the request cancels it; a win that lands after
 * that is resigned at once), `PUT` renews the term, `DELETE ?term=` resigns,
 * `GET` (a long-poll with `index` and `waitMs`) and `GET …/events` observe.
 */
export function registerElectionRoutes(app: FastifyInstance, coordination: Coordination): void {
  app.post('/v1/elections/:name/campaign', async (req, reply) => {
    const params = coordInput(NameParams, req.params, 'params', reply);
    const body = params && coordInput(CampaignBody, req.body, 'body', reply);
    if (params === undefined || body === undefined) return reply;
    const give = coordination.openRequests.take();
    if (give === undefined) return busy(reply, coordination);
    const waitMs = body.waitMs ?? MAX_CAMPAIGN_WAIT_MS;
    try {
      const ttlMs = body.ttlMs ?? DEFAULT_ELECTION_TTL_MS;
      const outcome = await coordination.leases.acquire(
        'election',
        params.name,
        { ttlMs, waitMs, label: body.label, releaseOnUnhealthy: body.releaseOnUnhealthy },
        appGoneSignal(reply),
      );
      if (!outcome.ok) return heldBy(reply, `election "${params.name}"`, outcome.state, waitMs, true);
      const g = outcome.grant;
      return {
        name: params.name,
        service: g.state.service,
        term: g.token,
        ttlMs: g.ttlMs,
        expiresAt: g.expiresAt,
        leader: g.state.holder ?? null,
      };
    } catch (e) {
      if (e instanceof WaitCancelled) return reply.code(499).send();
      throw e;
    } finally {
      give();
    }
  });

  app.put('/v1/elections/:name', async (req, reply) => {
    const params = coordInput(NameParams, req.params, 'params', reply);
    const body = params && coordInput(TermRenewBody, req.body, 'body', reply);
    if (params === undefined || body === undefined) return reply;
    const g = await coordination.leases.renew('election', params.name, body.term, body.ttlMs);
    return { term: g.token, ttlMs: g.ttlMs, expiresAt: g.expiresAt };
  });

  app.delete('/v1/elections/:name', async (req, reply) => {
    const params = coordInput(NameParams, req.params, 'params', reply);
    const query = params && coordInput(TermQuery, req.query, 'query', reply);
    if (params === undefined || query === undefined) return reply;
    await coordination.leases.release('election', params.name, query.term);
    return { resigned: true };
  });

  app.get('/v1/elections/:name', async (req, reply) => {
    const params = coordInput(NameParams, req.params, 'params', reply);
    const query = params && coordInput(LongPollQuery, req.query, 'query', reply);
    if (params === undefined || query === undefined) return reply;
    const state = await readState(coordination, 'election', params.name, query, reply);
    return state === undefined ? reply : electionView(state);
  });

  app.get('/v1/elections/:name/events', async (req, reply) => {
    const params = coordInput(NameParams, req.params, 'params', reply);
    if (params === undefined) return reply;
    await streamCoordEvents(coordination, 'election', params.name, electionView, req, reply);
    return reply;
  });
}
