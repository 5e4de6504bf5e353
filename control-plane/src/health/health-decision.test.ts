import { describe, expect, it } from 'vitest';
import type { CallerVerdict } from './caller-reports.js';
import {
  type AgentSignals,
  type DecidedHealth,
  decideHealth,
  type HealthDecision,
  hardSignal,
} from './health-decision.js';

const NOW = 100_000;
const settings = { recoverMs: 3000, heartbeatTimeoutMs: 3000 };

const agent = (over: Partial<AgentSignals> = {}): AgentSignals => ({
  agentId: 'a-1',
  connected: true,
  disconnectReason: undefined,
  health: 'healthy',
  healthReason: undefined,
  lastSeenAt: NOW,
  ...over,
});
const decided = (over: Partial<DecidedHealth> = {}): DecidedHealth => ({
  state: 'healthy',
  beforeDrain: 'healthy',
  reason: 'registered, local health check passing',
  evidence: { signal: 'local-check', agentId: 'a-1' },
  drain: undefined,
  heldUntil: 0,
  observationDownUntil: 0,
  cleanSince: 0,
  ...over,
});
const clear: CallerVerdict = { callers: 0, failing: [], needed: 1, counts: {} };
/** `failing` of 3 callers see it failing, with a quorum of 2. */
const callers = (failing: number): CallerVerdict => ({
  callers: 3,
  failing: ['c-1', 'c-2', 'c-3'].slice(0, failing),
  needed: 2,
  counts: { 'c-1': { ok: 0, failed: 5 }, 'c-2': { ok: 0, failed: 5 }, 'c-3': { ok: 5, failed: 0 } },
});

interface Case {
  name: string;
  agent?: Partial<AgentSignals>;
  verdict?: CallerVerdict;
  was?: Partial<DecidedHealth>;
  expected: Partial<HealthDecision>;
}

const cases: Case[] = [
  { name: 'stays healthy with every signal clear', expected: { to: 'healthy', byCallers: false, fell: false } },
  {
    name: 'a lost connection takes it down at once',
    agent: { connected: false, disconnectReason: 'stream closed by peer' },
    expected: { to: 'unhealthy', reason: 'agent disconnected: stream closed by peer', byCallers: false, fell: true },
  },
  {
    name: 'a failing local check takes it down at once, with the check as evidence',
    agent: { health: 'unhealthy', healthReason: 'GET /healthz answered 503' },
    expected: {
      to: 'unhealthy',
      reason: 'local health check failing: GET /healthz answered 503',
      evidence: { signal: 'local-check', agentId: 'a-1', detail: 'GET /healthz answered 503' },
      fell: true,
    },
  },
  {
    name: 'a quorum of failing callers takes it down, and their evidence holds it',
    verdict: callers(2),
    expected: { to: 'unhealthy', reason: '2 of 3 callers see it failing (quorum 2)', byCallers: true, fell: true },
  },
  {
    name: 'a hard signal with a quorum is not held by the callers',
    agent: { connected: false },
    verdict: callers(2),
    expected: { to: 'unhealthy', byCallers: false, fell: true },
  },
  {
    name: 'one failing caller, below the quorum, makes it suspect',
    verdict: callers(1),
    expected: { to: 'suspect', reason: '1 of 3 callers see it failing, below the quorum of 2', fell: false },
  },
  {
    name: 'a heartbeat late by over half the timeout makes it suspect',
    agent: { lastSeenAt: NOW - 1600 },
    expected: {
      to: 'suspect',
      reason: 'no message from its agent for 1600 ms',
      evidence: { signal: 'heartbeat', silentMs: 1600 },
    },
  },
  {
    name: 'the doubt clearing makes a suspect instance healthy',
    was: { state: 'suspect', reason: 'x' },
    expected: { to: 'healthy', reason: 'the doubt cleared', evidence: { signal: 'all-clear' } },
  },
  {
    name: 'a flap hold-down keeps it unhealthy, with its reason',
    was: { state: 'unhealthy', reason: 'held', heldUntil: NOW + 1 },
    expected: { to: 'unhealthy', reason: 'held', byCallers: false, fell: false },
  },
  {
    name: "the callers' hold keeps it unhealthy",
    was: { state: 'unhealthy', reason: 'held by callers', observationDownUntil: NOW + 1 },
    expected: { to: 'unhealthy', reason: 'held by callers' },
  },
  {
    name: 'every signal clear puts an unhealthy instance on probation',
    was: { state: 'unhealthy', cleanSince: 0 },
    expected: { to: 'recovering', reason: 'every signal is clear; routed again, on probation', cleanSince: NOW },
  },
  {
    name: 'a recovering instance stays on probation until recoverMs have passed',
    was: { state: 'recovering', cleanSince: NOW - 2999 },
    expected: { to: 'recovering', cleanSince: NOW - 2999 },
  },
  {
    name: 'recoverMs without a failure make a recovering instance healthy',
    was: { state: 'recovering', cleanSince: NOW - 3000 },
    expected: { to: 'healthy', reason: 'no failure for 3000 ms', cleanSince: NOW - 3000 },
  },
  {
    name: 'any doubt restarts the probation of a recovering instance',
    was: { state: 'recovering', cleanSince: NOW - 5000 },
    verdict: callers(1),
    expected: { to: 'recovering', cleanSince: NOW },
  },
  {
    name: 'any failure sends a recovering instance straight back down',
    was: { state: 'recovering' },
    agent: { health: 'unhealthy' },
    expected: { to: 'unhealthy', reason: 'local health check failing', fell: true },
  },
  {
    name: "a drain overrides every signal, with the operator's reason",
    agent: { connected: false },
    was: { drain: { reason: 'kernel upgrade' } },
    expected: { to: 'draining', reason: 'kernel upgrade', evidence: { signal: 'operator' }, fell: false },
  },
  {
    name: 'an undrain with nothing new goes on from the state before the drain, and says undrained',
    was: { state: 'draining', beforeDrain: 'unhealthy', reason: 'kernel upgrade', evidence: { signal: 'operator' } },
    expected: { to: 'recovering', reason: 'every signal is clear; routed again, on probation' },
  },
  {
    name: 'an undrain of a healthy instance says undrained',
    was: { state: 'draining', reason: 'kernel upgrade', evidence: { signal: 'operator' } },
    expected: { to: 'healthy', reason: 'undrained', evidence: { signal: 'all-clear' } },
  },
  {
    name: 'an undrain onto a hold keeps the hold and says undrained, not a flap',
    was: { state: 'draining', beforeDrain: 'unhealthy', reason: 'kernel upgrade', heldUntil: NOW + 1 },
    expected: { to: 'unhealthy', reason: 'undrained', evidence: { signal: 'operator' }, fell: false },
  },
  {
    name: 'an undrain onto a failing signal is no flap',
    agent: { health: 'unhealthy' },
    was: { state: 'draining', reason: 'kernel upgrade' },
    expected: { to: 'unhealthy', reason: 'local health check failing', fell: false },
  },
];

describe('decideHealth', () => {
  it.each(cases)('$name', (c) => {
    const d = decideHealth(agent(c.agent), c.verdict ?? clear, decided(c.was), NOW, settings);
    expect(d).toMatchObject(c.expected);
  });

  it('keeps the reason and evidence when the state does not change', () => {
    const was = decided({
      state: 'suspect',
      reason: '1 of 3 callers see it failing, below the quorum of 2',
      evidence: { signal: 'callers' },
    });
    const d = decideHealth(agent(), callers(1), was, NOW, settings);
    expect(d).toEqual({
      to: 'suspect',
      reason: was.reason,
      evidence: was.evidence,
      cleanSince: 0,
      byCallers: false,
      fell: false,
    });
  });
});

describe('hardSignal', () => {
  it('is the connection first, then the local check, else none', () => {
    expect(hardSignal(agent({ connected: false, health: 'unhealthy' }))?.evidence).toEqual({
      signal: 'connection',
      agentId: 'a-1',
    });
    expect(hardSignal(agent({ health: 'unhealthy' }))?.reason).toBe('local health check failing');
    expect(hardSignal(agent())).toBeUndefined();
  });
});
