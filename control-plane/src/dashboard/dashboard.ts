import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, extname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance, FastifyReply } from 'fastify';
import { sendError } from '../api/api-errors.js';
import { PAGE_SECURITY_HEADERS } from '../api/page-security-headers.js';
import { ApiErrors } from '../errors.js';

/**
 * The package root: this file is `src/dashboard/dashboard.ts` in the source
 * tree and `dist/dashboard/dashboard.js` once built, two levels down either
 * way. The browser files are not compiled, so they are read from
 * `src/dashboard/static` in both cases (and published with the package,
 * see "files" in package.json).
 */
const PACKAGE_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** Where the page's own files are by default. */
export const DASHBOARD_STATIC_DIR = join(PACKAGE_ROOT, 'src', 'dashboard', 'static');

/** The page's own files, served under `/dashboard/assets/`. */
const OWN_ASSETS = [
  'dashboard.css',
  'app.js',
  'api-client.js',
  'event-stream.js',
  'dom.js',
  'sparkline.js',
  'overview-view.js',
  'service-view.js',
  'agents-view.js',
  'ca-panel.js',
  'cluster-badge.js',
  'events-view.js',
] as const;

/** uPlot's bundled files, served under `/dashboard/assets/uplot/` from the installed package: no CDN, so the page works offline. */
const UPLOT_ASSETS = ['uPlot.esm.js', 'uPlot.min.css'] as const;

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
};

/** Options of {@link registerDashboard}. */
export interface DashboardOptions {
  /** The folder of `index.html` and the page's scripts; defaults to {@link DASHBOARD_STATIC_DIR}. */
  staticDir?: string;
  /** uPlot's `dist` folder; defaults to the one of the installed `uplot` package. */
  uplotDir?: string;
}

interface Asset {
  body: Buffer;
  type: string;
}

function uplotDist(): string {
  const require = createRequire(import.meta.url);
  return join(dirname(require.resolve('uplot/package.json')), 'dist');
}

function load(file: string): Asset {
  try {
    return { body: readFileSync(file), type: CONTENT_TYPES[extname(file)] ?? 'application/octet-stream' };
  } catch (e) {
    throw new Error(
      `the dashboard cannot read ${file}: reinstall @meshlet/control-plane (npm ci) so that its page and the uplot package are complete`,
      { cause: e },
    );
  }
}

function send(reply: FastifyReply, asset: Asset): FastifyReply {
  return reply.headers(PAGE_SECURITY_HEADERS).type(asset.type).send(asset.body);
}

/**
 * Serves the web dashboard: `GET /` is the single-page app, and
 * `GET /dashboard/assets/*` its scripts, styles and uPlot. The page holds no
 * data: it asks the admin API for everything with the token the user gives
 * it, so these paths can be open in the auth hook.
 *
 * The files are a fixed list read once, here: a missing one fails the start
 * rather than a page load, and no request path ever reaches the file system
 * (nothing to traverse). That is also why this is not `@fastify/static`, which
 * serves a whole folder for a dozen small files.
 */
export function registerDashboard(app: FastifyInstance, options: DashboardOptions = {}): void {
  const staticDir = options.staticDir ?? DASHBOARD_STATIC_DIR;
  const uplotDir = options.uplotDir ?? uplotDist();
  const index = load(join(staticDir, 'index.html'));
  const assets = new Map<string, Asset>();
  for (const name of OWN_ASSETS) assets.set(name, load(join(staticDir, name)));
  for (const name of UPLOT_ASSETS) assets.set(`uplot/${name}`, load(join(uplotDir, name)));

  app.get('/', { schema: { hide: true } }, async (_req, reply) => send(reply, index));
  app.get<{ Params: { '*': string } }>('/dashboard/assets/*', { schema: { hide: true } }, async (req, reply) => {
    const asset = assets.get(req.params['*']);
    if (!asset)
      return sendError(reply, ApiErrors.NOT_FOUND(`no dashboard asset "${req.params['*']}"; open the dashboard at /`));
    return send(reply, asset);
  });
}
