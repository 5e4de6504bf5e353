// The mesh's certificate authority on the agents page (GET /v1/ca): the
// roots agents trust and when they expire, and a root rotation as three
// steps, the current one lit, with the agents it waits for.

import { badge, h } from './dom.js';

const STEPS = [
  ['adding-root', 'add the new root'],
  ['switching-issuer', 'sign with the new issuer'],
  ['removing-root', 'remove the old root'],
];

/** The three steps of a rotation as a row of boxes: done, current (with who is behind) and to come. */
function steps(ca) {
  const at = STEPS.findIndex(([s]) => s === ca.step);
  const finished = ca.step === 'done';
  return h(
    'ol',
    { class: 'ca-steps', 'data-testid': 'ca-steps' },
    ...STEPS.map(([step, label], i) => {
      const state = finished || (at >= 0 && i < at) ? 'done' : i === at ? 'current' : 'todo';
      return h('li', { class: `ca-step ${state}`, 'data-step': step, 'data-state': state }, `${i + 1}. ${label}`);
    }),
  );
}

/** Renders GET /v1/ca as a panel. */
export function renderCaPanel(ca) {
  const behind = ca.agents.behind;
  const rotating = ca.step !== 'none' && ca.step !== 'done';
  return h(
    'section',
    { class: 'panel', 'data-testid': 'ca-panel', 'data-step': ca.step },
    h('h2', {}, 'Certificate authority'),
    h(
      'p',
      {},
      rotating ? badge('root rotation under way', 'warn') : badge(ca.step === 'done' ? 'rotated' : 'stable', 'ok'),
      ` trust bundle generation ${ca.generation}: ${ca.description}.`,
    ),
    ca.step === 'none' ? null : steps(ca),
    h(
      'p',
      {},
      ...ca.roots.flatMap((r) => [
        h('code', { class: 'small' }, `root ${r.fingerprint.slice(0, 12)}`),
        ` expires ${r.notAfter.slice(0, 10)} `,
      ]),
    ),
    rotating
      ? h(
          'p',
          { 'data-testid': 'ca-behind' },
          behind.length === 0
            ? 'No agent behind: the next step follows within a second.'
            : `Waiting for ${behind.length} of ${ca.agents.connected} agents: ${behind
                .slice(0, 8)
                .map((b) => `${b.agentId} (${b.waitingFor})`)
                .join(', ')}${behind.length > 8 ? ', …' : ''}`,
        )
      : null,
  );
}
