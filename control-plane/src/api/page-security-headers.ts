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
 * Swagger UI's one inline style: the `<style>` element inside its logo's
 * SVG (`.logo_small_svg__cls-2{fill:#fff}...`), allowed by its hash alone,
 * so no other inline style gets through (and no script). A Swagger UI
 * upgrade that changes it shows in the /docs test in Chromium (a CSP
 * violation), not as a silent opening.
 */
const SWAGGER_LOGO_STYLE = "'sha256-RL3ie0nH+Lzz2YNqQN83mnU0J1ot4QL7b99vMdIX99w='";

/** {@link PAGE_SECURITY_HEADERS} for `/docs`, with {@link SWAGGER_LOGO_STYLE} added to `style-src`. */
export const DOCS_SECURITY_HEADERS: Readonly<Record<string, string>> = Object.freeze({
  ...PAGE_SECURITY_HEADERS,
  'content-security-policy': (PAGE_SECURITY_HEADERS['content-security-policy'] as string).replace(
    "style-src 'self'",
    `style-src 'self' ${SWAGGER_LOGO_STYLE}`,
  ),
});
