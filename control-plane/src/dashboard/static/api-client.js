// The admin API client: every request carries the bearer token the user
// gave, kept in sessionStorage so that it lasts as long as the tab and no
// longer.

const TOKEN_KEY = 'meshlet.dashboard.token';

/** The API answered 401: there is no token, or it was refused. */
export class Unauthorized extends Error {
  constructor(message, hadToken) {
    super(message);
    this.name = 'Unauthorized';
    this.hadToken = hadToken;
  }
}

/** The API answered with another error; `code` is its MESHLET_* code. */
export class ApiError extends Error {
  constructor(status, code, message, retryAfterS) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
    this.retryAfterS = retryAfterS;
  }
}

/** The token in use, if any. */
export function getToken() {
  return sessionStorage.getItem(TOKEN_KEY) ?? undefined;
}

/** Keeps `token` for this tab. */
export function setToken(token) {
  sessionStorage.setItem(TOKEN_KEY, token);
}

/** Forgets the token. */
export function clearToken() {
  sessionStorage.removeItem(TOKEN_KEY);
}

/** The Authorization header for the token in use (none without one). */
export function authHeaders() {
  const token = getToken();
  return token ? { authorization: `Bearer ${token}` } : {};
}

/** Turns a non-2xx answer into an {@link Unauthorized} or {@link ApiError}. */
export async function errorOf(res) {
  let body;
  try {
    body = await res.json();
  } catch {
    body = undefined;
  }
  const message = body?.error?.message ?? `${res.status} ${res.statusText}`;
  if (res.status === 401) return new Unauthorized(message, getToken() !== undefined);
  const retry = Number(res.headers.get('retry-after'));
  return new ApiError(
    res.status,
    body?.error?.code ?? null,
    message,
    Number.isFinite(retry) && retry > 0 ? retry : undefined,
  );
}

/** GETs `path` of the admin API as JSON. */
export async function getJson(path, signal) {
  const res = await fetch(path, {
    headers: { accept: 'application/json', ...authHeaders() },
    cache: 'no-store',
    signal,
  });
  if (!res.ok) throw await errorOf(res);
  return res.json();
}
