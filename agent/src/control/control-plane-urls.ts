import type { AgentConfig, ValidationIssue } from '@meshlet/shared';

/** The stream the agent uses when neither `controlPlane.url` nor `controlPlane.urls` is set. */
export const DEFAULT_CONTROL_PLANE_URL = 'ws://127.0.0.1:15010/v1/stream';

/**
 * What the schema cannot say about `controlPlane`: `url` and `urls` are
 * alternatives. Both set is refused rather than one silently winning, since
 * an operator who adds `urls` beside an old `url` (or a
 * `MESHLET_CONTROL_PLANE_URL` left in the environment) would otherwise not
 * get the replicas they think they configured.
 */
export function controlPlaneUrlIssues(cp: AgentConfig['controlPlane']): ValidationIssue[] {
  if (cp.url === undefined || cp.urls === undefined) return [];
  return [
    {
      path: 'controlPlane.url',
      problem: 'is set together with controlPlane.urls',
      fix: 'set only one of controlPlane.url and controlPlane.urls (put every replica in controlPlane.urls)',
    },
  ];
}

/** The control-plane streams to use, in order: `urls`, else `[url]`, else the default. */
export function controlPlaneUrls(cp: AgentConfig['controlPlane']): string[] {
  return cp.urls !== undefined ? [...cp.urls] : [cp.url ?? DEFAULT_CONTROL_PLANE_URL];
}
