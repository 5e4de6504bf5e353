import type { Socket } from 'node:net';
import { httpErrorBody, type InstanceRole } from '@meshlet/shared';
import { AgentErrors, ERROR_HEADER } from '../errors.js';

/**
 * Refuses a connection on a dedicated upstream port whose `role` cannot be
 * honoured: `role` picks endpoints per connection, which only the TCP
 * relay does, and the port's service is not `protocol: tcp` (or not in the
 * table at all). The HTTP handling would send to every endpoint, so the
 * connection gets one HTTP answer, `503 MESHLET_UPSTREAM_ROLE_UNSUPPORTED`
 * naming the field and the fix (an HTTP client reads it; a TCP client sees
 * its connection close), never a request sent where the role forbids.
 * Returns the message, for the log.
 */
export function refuseRolePort(
  socket: Socket,
  upstream: { service: string; role: InstanceRole },
  known: boolean,
  protocol: string | undefined,
): string {
  const { service, role } = upstream;
  const is = known
    ? `not protocol: tcp (${protocol ? `protocol: ${protocol}` : 'no policy.protocol'})`
    : 'not in the routing table';
  const message =
    `upstreams[] entry for ${service} sets role: ${role}, which applies to protocol: tcp services only, and ${service} is ${is}: ` +
    `set policy.protocol: tcp on ${service}, or remove role from the upstream and route HTTP with a subset {role: ${role}}`;
  const err = AgentErrors.UPSTREAM_ROLE_UNSUPPORTED(message);
  const body = JSON.stringify(httpErrorBody(err));
  socket.on('error', () => socket.destroy());
  socket.end(
    `HTTP/1.1 ${err.statusCode} Service Unavailable\r\ncontent-type: application/json; charset=utf-8\r\n` +
      `content-length: ${Buffer.byteLength(body)}\r\n${ERROR_HEADER}: ${err.code}\r\nconnection: close\r\n\r\n${body}`,
  );
  // A client that does not close after the answer is closed a second later.
  setTimeout(() => socket.destroy(), 1000).unref();
  return message;
}
