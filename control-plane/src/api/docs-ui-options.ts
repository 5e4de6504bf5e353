import type { FastifySwaggerUiOptions } from '@fastify/swagger-ui';

/** The title of the OpenAPI document and of the `/docs` page. */
export const DOCS_TITLE = 'meshlet admin API';

/**
 * A mark for the browser tab, drawn here rather than Swagger's: three
 * services joined by a mesh. Plain shapes with presentation attributes (no
 * `<style>`), so the page's CSP needs no hash for it.
 */
const FAVICON_SVG = `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32">
<path d="M8 24 16 8 24 24Z" fill="none" stroke="#0550ae" stroke-width="2.5"/>
<circle cx="16" cy="8" r="4.5" fill="#0550ae"/><circle cx="8" cy="24" r="4.5" fill="#0550ae"/><circle cx="24" cy="24" r="4.5" fill="#0550ae"/>
</svg>
`;

/**
 * How `/docs` (Swagger UI, `@fastify/swagger-ui`) looks: the page is titled
 * {@link DOCS_TITLE} and uses the base layout, without Swagger's top bar (its
 * logo, and a box to explore any other URL, which an admin page has no use
 * for); the tab shows meshlet's mark instead of Swagger's favicons.
 */
export const DOCS_UI_OPTIONS: FastifySwaggerUiOptions = {
  routePrefix: '/docs',
  uiConfig: { layout: 'BaseLayout', deepLinking: true },
  theme: {
    title: DOCS_TITLE,
    favicon: [{ filename: 'meshlet.svg', rel: 'icon', type: 'image/svg+xml', sizes: 'any', content: FAVICON_SVG }],
  },
};
