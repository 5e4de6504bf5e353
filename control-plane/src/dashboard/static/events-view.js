// Events: the control plane's decisions, newest first, with failovers
// stood out. New events from the stream are prepended without re-rendering
// the rest.

import { badge, h, stateBadge, timeEl } from './dom.js';

const KINDS = ['health', 'failover', 'drain'];

function eventItem(e) {
  const failover = e.kind === 'failover';
  return h(
    'li',
    {
      class: `event kind-${e.kind}`,
      'data-testid': 'event',
      'data-kind': e.kind,
      'data-seq': e.seq,
      'data-service': e.service,
    },
    h(
      'div',
      { class: 'event-head' },
      timeEl(e.time),
      badge(e.kind, failover ? 'bad' : e.kind === 'drain' ? 'muted' : 'info'),
      h('a', { href: `#/services/${encodeURIComponent(e.service)}` }, e.service),
      e.instance ? h('span', {}, ` / ${e.instance}`) : null,
      h(
        'span',
        { class: 'transition' },
        failover
          ? [h('strong', {}, e.from), ' → ', h('strong', {}, e.to)]
          : [stateBadge(e.from), ' → ', stateBadge(e.to)],
      ),
    ),
    h('p', { class: 'reason' }, e.reason),
  );
}

/** The events view; `events` is the page's list, oldest first. */
export class EventsView {
  #list;
  #kind = '';
  #empty;

  /** Builds the view in `root` from every event known so far. */
  mount(root, events) {
    this.#list = h('ol', { class: 'timeline', reversed: true, 'data-testid': 'events' });
    this.#empty = h(
      'p',
      { class: 'empty' },
      'No decision yet: events appear here when an instance changes state, a service fails over, or an operator drains.',
    );
    const select = h(
      'select',
      {
        id: 'event-kind',
        onchange: (ev) => {
          this.#kind = ev.target.value;
          this.#renderAll(events);
        },
      },
      h('option', { value: '' }, 'all'),
      ...KINDS.map((k) => h('option', { value: k }, k)),
    );
    root.replaceChildren(
      h('h1', {}, 'Events'),
      h('p', { class: 'filters' }, h('label', { for: 'event-kind' }, 'Kind '), select),
      this.#empty,
      this.#list,
    );
    this.#renderAll(events);
  }

  /** Shows one new event at the top. */
  prepend(e) {
    if (!this.#list || (this.#kind && e.kind !== this.#kind)) return;
    this.#list.prepend(eventItem(e));
    this.#empty.hidden = true;
  }

  /** Forgets the DOM. */
  unmount() {
    this.#list = undefined;
  }

  #renderAll(events) {
    const shown = events.filter((e) => !this.#kind || e.kind === this.#kind).reverse();
    this.#list.replaceChildren(...shown.map(eventItem));
    this.#empty.hidden = shown.length > 0;
  }
}
