/**
 * OpenAPI descriptions of the two routes that monitoring, not people, calls:
 * what `/docs` shows for them instead of Swagger UI's "Default Response".
 * `/healthz` is open (no token: load balancers and systemd probe it);
 * `/metrics` takes a token like every other read.
 */

/** `GET /healthz`: liveness, a JSON object. */
export const HEALTHZ_SCHEMA = {
  tags: ['health'],
  summary: 'Liveness: the control plane process answers',
  description:
    'Answers 200 as long as the process serves HTTP; it says nothing about agents or the store (see `/v1/cluster` ' +
    'for the replica role and `/metrics` for the rest). Needs no token, whatever `auth` says.',
  security: [],
  response: {
    200: {
      description: 'The process is up',
      type: 'object',
      properties: { status: { type: 'string', enum: ['ok'], description: 'Always "ok"' } },
      required: ['status'],
      additionalProperties: false,
    },
  },
} as const;

/** `GET /metrics`: Prometheus text exposition. */
export const METRICS_SCHEMA = {
  tags: ['health'],
  summary: 'Prometheus metrics (text exposition format 0.0.4)',
  description:
    'Every `meshlet_cp_*` series with its HELP and TYPE lines, and the Node.js process metrics, for a Prometheus ' +
    'scrape job (docs/observability.md lists them). Health gauges are read at scrape time, so an instance that is ' +
    'gone leaves no series behind.',
  response: {
    200: {
      description: 'The metrics, in the Prometheus text exposition format',
      content: {
        'text/plain': {
          schema: {
            type: 'string',
            description: 'text/plain; version=0.0.4; charset=utf-8',
            example:
              '# HELP meshlet_cp_routing_table_version Version of the newest routing table.\n' +
              '# TYPE meshlet_cp_routing_table_version gauge\nmeshlet_cp_routing_table_version 42\n',
          },
        },
      },
    },
  },
} as const;
