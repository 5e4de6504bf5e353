// The dashboard's shell: the token form, hash routing, the status line,
// and keeping the views current. Each event from the live stream triggers a
// (debounced) refresh; a poll every 2 s refreshes too, so the page stays
// right when the stream is down or a change made no event. Each refresh also
// asks which role this replica has (leader, follower, standalone) for the
// header's badge.

import { ApiError, clearToken, getJson, getToken, setToken, Unauthorized } from './api-client.js';
import { EventStream } from './event-stream.js';
import { renderAgents } from './agents-view.js';
import { renderCaPanel } from './ca-panel.js';
import { renderClusterBadge } from './cluster-badge.js';
import { h } from './dom.js';
import { EventsView } from './events-view.js';
import { OverviewView } from './overview-view.js';
import { renderService } from './service-view.js';
import { RateHistory } from './sparkline.js';

const POLL_MS = 2000;
const DEBOUNCE_MS = 150;
/** Events kept in the page; the control plane keeps its own bounded log. */
const MAX_EVENTS = 500;
/** After a 404 for /v1/cluster (a control plane older than replicas), how long before asking again. */
const CLUSTER_RETRY_MS = 60_000;
/** The page's clock, in ms since the epoch: the one place the page reads the time. */
const clock = () => Date.now();

const $ = (id) => document.getElementById(id);
const main = $('view');
const tokenPanel = $('token-panel');
const tokenForm = $('token-form');
const tokenInput = $('token-input');
const tokenError = $('token-error');
const statusEl = $('status');
const updatedEl = $('updated');
const clusterEl = $('cluster');

const history = new RateHistory();
const overview = new OverviewView(history);
const eventsView = new EventsView();
/** Every event seen, oldest first. */
const events = [];
let lastSeq = 0;
let route = { name: 'overview' };
let current;
let pollTimer;
let debounceTimer;
let refreshing;
let again = false;
let locked = false;

const STATUS_TEXT = {
  connecting: 'Connecting to the live event stream…',
  live: 'Live: following the event stream',
  down: 'Event stream down: polling every 2 s and reconnecting',
  offline: 'Control plane unreachable: retrying',
  unauthorized: 'Waiting for a token',
};

let streamState = 'connecting';
let streamDetail;
/** Why the last refresh failed, if it did. */
let problem;
/** The last answer of GET /v1/cluster; undefined when the control plane has no such route. */
let cluster;
/** Not before this time (ms) is /v1/cluster asked again after a 404. */
let clusterRetryAt = 0;

/** Shows the connection: waiting for a token, the control plane unreachable, or the stream's state. */
function renderStatus() {
  const [state, detail] = locked ? ['unauthorized'] : problem ? ['offline', problem] : [streamState, streamDetail];
  statusEl.dataset.connection = state;
  statusEl.textContent = STATUS_TEXT[state] + (detail && state !== 'live' ? ` (${detail})` : '');
}

const stream = new EventStream({
  afterSeq: 0,
  onEvent: (e) => {
    addEvent(e);
    scheduleRefresh();
  },
  onState: (state, detail) => {
    if (state === 'unauthorized') return askForToken(new Unauthorized(detail, getToken() !== undefined));
    streamState = state;
    streamDetail = detail;
    renderStatus();
  },
});

function renderCluster() {
  const badge = cluster && renderClusterBadge(cluster);
  clusterEl.replaceChildren(...(badge ? [badge] : []));
  clusterEl.hidden = !badge;
}

/**
 * Asks GET /v1/cluster for the badge. A 404 (a control plane older than
 * replicas) shows nothing; another failure keeps the last answer, as the
 * status line already says when the control plane is unreachable.
 */
async function loadCluster() {
  if (clock() < clusterRetryAt) return;
  try {
    cluster = await getJson('/v1/cluster');
  } catch (e) {
    if (e instanceof Unauthorized) throw e;
    if (!(e instanceof ApiError && e.status === 404)) return;
    cluster = undefined;
    clusterRetryAt = clock() + CLUSTER_RETRY_MS;
  }
  renderCluster();
}

function addEvent(e) {
  if (e.seq <= lastSeq) return;
  lastSeq = e.seq;
  events.push(e);
  if (events.length > MAX_EVENTS) events.shift();
  if (current === eventsView) eventsView.prepend(e);
}

function parseRoute() {
  const hash = location.hash.replace(/^#\/?/, '');
  let parts;
  try {
    parts = hash.split('/').map(decodeURIComponent);
  } catch {
    // A malformed link (a stray %): show the overview rather than stop.
    return { name: 'overview' };
  }
  if (parts[0] === 'services' && parts[1]) return { name: 'service', service: parts[1] };
  if (parts[0] === 'agents') return { name: 'agents' };
  if (parts[0] === 'events') return { name: 'events' };
  return { name: 'overview' };
}

function showRoute() {
  route = parseRoute();
  current?.unmount?.();
  current = undefined;
  for (const a of document.querySelectorAll('nav a')) {
    const active = a.dataset.route === (route.name === 'service' ? 'overview' : route.name);
    if (active) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  if (route.name === 'overview') {
    current = overview;
    overview.mount(main);
    document.title = 'Services · meshlet';
  } else if (route.name === 'events') {
    current = eventsView;
    eventsView.mount(main, events);
    document.title = 'Events · meshlet';
  } else {
    main.replaceChildren(h('p', { class: 'muted' }, 'Loading…'));
    document.title = `${route.name === 'agents' ? 'Agents' : route.service} · meshlet`;
  }
  void refresh();
}

/** Fetches what the current view shows, plus the services (for the rate history), and renders it. */
async function load() {
  const [services] = await Promise.all([getJson('/v1/services'), loadCluster()]);
  const now = clock() / 1000;
  for (const s of services.services) history.record(s.name, now, s.stats?.rps);
  history.retain(new Set(services.services.map((s) => s.name)));
  if (streamState !== 'live') {
    // The stream is down: pick up missed events by polling.
    const missed = await getJson(`/v1/events?after=${lastSeq}&limit=${MAX_EVENTS}`);
    for (const e of missed.events) addEvent(e);
  }
  const r = route;
  if (r.name === 'overview') overview.update(services);
  else if (r.name === 'agents') {
    const [agents, ca] = await Promise.all([
      getJson('/v1/agents'),
      // One section of the page: a control plane without /v1/ca still lists its agents.
      getJson('/v1/ca').catch((e) => {
        if (e instanceof Unauthorized) throw e;
        return undefined;
      }),
    ]);
    if (route === r) main.replaceChildren(renderAgents(agents, cluster), ca ? renderCaPanel(ca) : '');
  } else if (r.name === 'service') {
    const name = encodeURIComponent(r.service);
    try {
      const [detail, rings, authz] = await Promise.all([
        getJson(`/v1/services/${name}`),
        getJson('/v1/rings'),
        // One section of the page: a failed read marks that section, never blanks the service page.
        getJson(`/v1/authz/${name}`).catch((e) => {
          if (e instanceof Unauthorized) throw e;
          return { unavailable: e instanceof Error ? e.message : String(e) };
        }),
      ]);
      if (route === r)
        main.replaceChildren(
          renderService(
            detail,
            rings.rings.find((x) => x.service === r.service),
            authz,
          ),
        );
    } catch (e) {
      if (!(e instanceof ApiError && e.status === 404)) throw e;
      if (route === r)
        main.replaceChildren(
          h('h1', {}, r.service),
          h('p', { class: 'empty' }, `No service "${r.service}" is known to the control plane.`),
          h('p', {}, h('a', { href: '#/' }, 'All services')),
        );
    }
  }
  updatedEl.textContent = `Updated ${new Date().toLocaleTimeString()}`;
}

/** Runs {@link load}, one at a time (a refresh asked meanwhile runs once after it). */
async function refresh() {
  if (locked) return;
  if (refreshing) {
    again = true;
    return refreshing;
  }
  refreshing = (async () => {
    try {
      await load();
      problem = undefined;
    } catch (e) {
      if (e instanceof Unauthorized) return askForToken(e);
      problem = e instanceof Error ? e.message : String(e);
    } finally {
      renderStatus();
      refreshing = undefined;
    }
    if (again) {
      again = false;
      await refresh();
    }
  })();
  return refreshing;
}

function scheduleRefresh() {
  clearTimeout(debounceTimer);
  debounceTimer = setTimeout(() => void refresh(), DEBOUNCE_MS);
}

function askForToken(err) {
  locked = true;
  stream.stop();
  clearInterval(pollTimer);
  if (err?.hadToken) clearToken();
  // What the API said is for token holders only.
  cluster = undefined;
  clusterRetryAt = 0;
  renderCluster();
  $('forget-token').hidden = true;
  renderStatus();
  tokenError.textContent = err?.hadToken ? 'That token was refused. Check it, or ask for a read-only token.' : '';
  tokenPanel.hidden = false;
  main.hidden = true;
  tokenInput.focus();
}

async function start() {
  locked = false;
  tokenPanel.hidden = true;
  main.hidden = false;
  $('forget-token').hidden = getToken() === undefined;
  try {
    // Load the backlog first, so the stream resumes right after it.
    const recent = await getJson(`/v1/events?limit=${MAX_EVENTS}`);
    for (const e of recent.events) addEvent(e);
  } catch (e) {
    if (e instanceof Unauthorized) return askForToken(e);
    problem = e instanceof Error ? e.message : String(e);
  }
  renderStatus();
  showRoute();
  stream.start(lastSeq);
  clearInterval(pollTimer);
  pollTimer = setInterval(() => void refresh(), POLL_MS);
}

tokenForm.addEventListener('submit', async (ev) => {
  ev.preventDefault();
  const token = tokenInput.value.trim();
  if (!token) return;
  tokenError.textContent = '';
  setToken(token);
  try {
    await getJson('/v1/services');
  } catch (e) {
    if (e instanceof Unauthorized) return askForToken(e);
    if (e instanceof ApiError && e.status === 429) {
      clearToken();
      tokenError.textContent = `Too many wrong tokens from this address: wait ${e.retryAfterS ?? 60} s, then try again.`;
      return;
    }
  }
  tokenInput.value = '';
  void start();
});

$('forget-token').addEventListener('click', () => {
  clearToken();
  askForToken();
});

window.addEventListener('hashchange', () => {
  if (!locked) showRoute();
});

void start();
