/**
 * The headers of every page the control plane serves to a browser (the
 * dashboard, `/docs`) and of the documents those pages load: the page loads
 * only its own files and talks only to this origin, no other site may frame
 * it (`frame-ancestors 'none'`, and `x-frame-options: DENY` for browsers
 * older than CSP 2), nothing is sniffed as another type, and no URL leaks in
 * a `Referer`. uPlot and Swagger UI size their elements through the CSSOM
 * (`el.style.x = ...`), which `style-src 'self'` allows; neither needs an
 * inline script or style.
 */
export const PAGE_SECURITY_HEADERS: Readonly<Record<string, string>> = Object.freeze({
  'content-security-policy':
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
  'x-frame-options': 'DENY',
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'cache-control': 'no-cache',
});

/**
 * The headers of `/docs`: the dashboard's, unchanged. Swagger UI's one
 * inline style was the `<style>` inside its logo's SVG, in the top bar that
 * `/docs` no longer shows (see `docs-ui-options.ts`), so no hash is allowed
 * in `style-src` any more. A Swagger UI upgrade that adds an inline style
 * shows in the /docs tests in Chromium (a CSP violation), not as a silent
 * opening.
 */
export const DOCS_SECURITY_HEADERS: Readonly<Record<string, string>> = PAGE_SECURITY_HEADERS;
