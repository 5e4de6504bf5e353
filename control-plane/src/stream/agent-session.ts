import {
  type AgentMessage,
  type CoordEvent,
  type CoordResult,
  type Certificate,
  CloseCodes,
  type Decoder,
  type ErrorMessage,
  type Hello,
  type Identity,
  type Logger,
  type Observations,
  type Routes,
  SharedErrorCodes,
} from '@meshlet/shared';
import type { WebSocket } from 'ws';
import { ControlPlaneErrorCodes } from '../errors.js';
import type { HealthEngine } from '../health/health-engine.js';
import { applyHealth, type RolesContext } from './apply-health.js';
import type { ServiceStats } from '../stats/service-stats.js';
import type { ControlPlaneMetrics } from '../metrics.js';
import type { Pusher, TableSink } from '../push/pusher.js';
import type { JoinDecision } from '../join/check-join.js';
import { admissionAuth, admitHello } from './admit-hello.js';
import { callerIdentity } from './caller-identity.js';
import type { RegistrationRefusal } from './check-registration.js';
import type { ReportGuard } from './report-guard.js';
import { type CertifiedAgent, notePresented } from './stream-certificate-auth.js';
import type { CertificateIssuer, CertificateRequests, WorkloadGrant } from './certificate-requests.js';
import { sessionCertificates } from './session-certificates.js';
import { newSubscriptions } from './new-subscriptions.js';
import { onAck, onNack, onObservations } from './table-replies.js';
import { helloCredential } from './hello-credential.js';
import { PreHelloGuard, type StreamStart } from './pre-hello-guard.js';
import type { JoinThrottle } from './stream-upgrade.js';
import type { AgentRecord } from '../registry/agent-record.js';
import type { Registry } from '../registry/registry.js';
import type { CoordIdentity, CoordPeer } from '../coordination/coord-peer.js';
import type { Coordinator } from '../coordination/coordinator.js';

/** What a session needs from the control plane around it. */
export interface SessionContext {
  registry: Registry;
  pusher: Pusher;
  health: HealthEngine;
  /** Where the agents' reported roles and offsets go (see applyHealth); absent: not recorded. */
  roles?: RolesContext['roles'];
  stats: ServiceStats;
  /** Compares an agent's reported ring checksum with the published one (undefined: another ring version). */
  ringAgrees: (service: string, reported: { version: number; checksum: string }) => boolean | undefined;
  metrics: ControlPlaneMetrics;
  log: Logger;
  decode: Decoder<AgentMessage>;
  helloTimeoutMs: number;
  /** The largest message before the hello (`stream.helloMaxBytes`). */
  helloMaxBytes: number;
  /** Wrong join credentials per address, shared with the upgrade; absent: not throttled. */
  throttle?: JoinThrottle;
  clock: () => number;
  /** Decides whether a hello may join (per-service credential, shared join token, or none required). */
  checkJoin: (hello: Hello) => JoinDecision;
  /** Whether a join credential named by a client certificate still stands (not revoked). */
  credentialActive?: (id: string | undefined) => boolean;
  /** Sessions by agent id, to replace an older connection of the same agent. */
  sessions: Map<string, AgentSession>;
  /** Passes an agent's observations (and what it counts as among callers) on to the other control-plane replicas, if any. */
  relay?: (agentId: string, report: Observations, identity: string) => void;
  /** Checks what an admitted hello registers (its advertised address); absent: anything is. */
  checkRegistration?: (hello: Hello, remoteAddress: string) => RegistrationRefusal | undefined;
  /** Binds an agent's reports to what it was sent and limits their rate; absent: every report counts. */
  reports?: ReportGuard;
  /** Also told of every agent's observations (who calls whom, for `meshctl authz suggest`). */
  observed?: (record: AgentRecord, report: Observations) => void;
  /** The agent's certificate issuer or held trust bundle changed (replicas and a root rotation follow it). */
  identityChanged?: (record: AgentRecord) => void;
  /** Why this control plane turns agents away right now, if it does (a replica cut off from etcd). */
  refusal?: () => string | undefined;
  /** Signs agents' workload certificates; absent: `csr` messages are refused. */
  issuer?: CertificateIssuer;
  /** Serves `coord` requests (application locks and elections); absent: they go unanswered. */
  coordination?: Pick<Coordinator, 'request' | 'closed'>;
}

/** Printable ASCII, at most 120 bytes: always a valid WebSocket close reason. */
export function closeReason(text: string): string {
  return text.replace(/[^\x20-\x7e]/g, '?').slice(0, 120);
}

/**
 * One agent's stream. Before its hello the agent is nobody: anything else
 * closes the stream. After it, bad messages are answered with an error and
 * counted, and the stream stays up; only an oversized message closes it,
 * because the peer is clearly not speaking the protocol.
 */
export class AgentSession implements TableSink, CoordPeer {
  readonly #socket: WebSocket;
  readonly #ctx: SessionContext;
  readonly #remoteAddress: string;
  #record: AgentRecord | undefined;
  readonly #guard: PreHelloGuard;
  /** The join credential the upgrade's `Authorization` header carried, already checked there. */
  readonly #upgradeCredential: string | undefined;
  #credentialId: string | undefined;
  #admittedFor: string | undefined;
  /** The workload the stream's client certificate proved, if any (it joins instead of the credential). */
  /** The client certificate the stream presented, valid; cleared when admission did not accept it. */
  #certificate: CertifiedAgent | undefined;
  #certificates: CertificateRequests | undefined;

  /** `upgrade`: what the stream's upgrade proved (its credential), its raw socket, and the place it took, if any. */
  constructor(
    socket: WebSocket,
    remoteAddress: string,
    ctx: SessionContext,
    certificate?: CertifiedAgent,
    upgrade: StreamStart = {},
  ) {
    this.#socket = socket;
    this.#certificate = certificate;
    this.#ctx = ctx;
    this.#remoteAddress = remoteAddress;
    this.#upgradeCredential = upgrade.credential;
    const timedOut = () => {
      const message = `no hello within ${ctx.helloTimeoutMs} ms`;
      this.#fail(ControlPlaneErrorCodes.HELLO_REQUIRED, message, CloseCodes.HELLO_REQUIRED);
    };
    this.#guard = new PreHelloGuard(socket, ctx, timedOut, ctx.log, upgrade);
    socket.on('message', (data, isBinary) => this.#onFrame(data as Buffer, isBinary));
    socket.on('close', (code: number) => this.#onClose(code));
    socket.on('error', (err: Error & { code?: string }) => {
      // ws closes the stream itself (1009) on a frame above its hard cap.
      if (err.code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH')
        ctx.metrics.streamRejected.inc({ code: SharedErrorCodes.PROTOCOL_TOO_LARGE });
      ctx.log.warn({ agentId: this.#record?.agentId, remoteAddress, err: err.message }, 'agent stream error');
    });
  }

  /** The agent's record; only valid after hello. */
  get record(): AgentRecord {
    if (!this.#record) throw new Error('session has no hello yet');
    return this.#record;
  }

  /** The identity a certificate was issued for on this stream (or presented at its start), if any. */
  get certified(): WorkloadGrant | undefined {
    return this.#certificates?.certified;
  }

  /** The id of the per-service join credential this agent joined with, if any (revoking it sends the agent away). */
  get credentialId(): string | undefined {
    return this.#credentialId;
  }

  /** The service of the per-service join credential this agent joined with, if any (another service's credential may not replace it). */
  get admittedFor(): string | undefined {
    return this.#admittedFor;
  }

  /** Sends a routing table, already serialised by the pusher. */
  send(message: Routes, text: string): void {
    this.#ctx.metrics.tableMessages.inc({ kind: message.baseVersion === undefined ? 'full' : 'delta' });
    this.#socket.send(text);
  }

  /**
   * Closes the stream with a code and a reason the agent can read. A close
   * reason is at most 123 bytes and often echoes what the peer sent, so it is
   * cut to printable ASCII within that limit; ws throws on a longer one.
   * Before the hello the socket is ended at once after the close frame: a
   * stranger is not waited for (up to 30 s) to answer the close handshake.
   */
  close(code: number, reason: string): void {
    try {
      this.#socket.close(code, closeReason(reason));
      if (!this.#record) this.#guard.end();
    } catch {
      this.#socket.terminate();
    }
  }

  /** Who asks for locks on this stream: its agent and instance, and its certificate's service, else its admitted hello's. */
  get coordIdentity(): CoordIdentity {
    const r = this.record;
    return {
      agentId: r.agentId,
      instanceId: r.instance?.id ?? r.agentId,
      service: this.#certificate?.service ?? r.admittedFor ?? r.instance?.service,
    };
  }

  /** Sends a coordination answer or event. */
  sendCoord(message: CoordResult | CoordEvent): void {
    this.#reply(message);
  }

  #reply(message: ErrorMessage | Identity | Certificate | CoordResult | CoordEvent): void {
    if (this.#socket.readyState === this.#socket.OPEN) this.#socket.send(JSON.stringify(message));
  }

  #fail(code: string, message: string, closeCode: number): void {
    this.#ctx.metrics.streamRejected.inc({ code });
    this.#reply({ type: 'error', code, message });
    this.close(closeCode, message);
  }

  #onFrame(data: Buffer, isBinary: boolean): void {
    const ctx = this.#ctx;
    const decoded = ctx.decode(isBinary ? data : data.toString('utf8'));
    if (!decoded.ok) {
      ctx.metrics.streamRejected.inc({ code: decoded.error.code });
      ctx.log.warn(
        {
          agentId: this.#record?.agentId,
          remoteAddress: this.#remoteAddress,
          code: decoded.error.code,
          detail: decoded.error.message,
        },
        'refused agent message',
      );
      this.#reply(decoded.error);
      if (decoded.error.code === SharedErrorCodes.PROTOCOL_TOO_LARGE)
        this.close(CloseCodes.MESSAGE_TOO_BIG, decoded.error.message);
      else if (!this.#record)
        this.close(CloseCodes.HELLO_REQUIRED, `first message must be a valid hello: ${decoded.error.message}`);
      return;
    }
    const msg = decoded.message;
    ctx.metrics.streamMessages.inc({ type: msg.type });
    if (!this.#record) {
      if (msg.type !== 'hello') {
        this.#fail(
          ControlPlaneErrorCodes.HELLO_REQUIRED,
          `first message must be a hello, got "${msg.type}"`,
          CloseCodes.HELLO_REQUIRED,
        );
        return;
      }
      this.#onHello(msg);
      return;
    }
    const record = this.#record;
    ctx.registry.seen(record);
    switch (msg.type) {
      case 'hello':
        this.#reply({
          type: 'error',
          code: SharedErrorCodes.PROTOCOL_SCHEMA,
          message: 'hello was already received on this stream',
        });
        return;
      case 'heartbeat': {
        const held = ctx.reports?.heldHealth(this);
        if (held) applyHealth(ctx, record, held);
        return;
      }
      case 'health': {
        const health = ctx.reports ? ctx.reports.health(this, msg) : msg;
        if (health) applyHealth(ctx, record, health);
        return;
      }
      case 'subscribe': {
        const more = newSubscriptions(record.subscriptions, msg.services);
        if ('error' in more) return this.#reply(more.error);
        if (more.fresh.length === 0) return;
        ctx.pusher.subscribe(this, more.fresh);
        record.subscriptions = [...record.subscriptions, ...more.fresh].sort();
        return;
      }
      case 'observations':
        return onObservations(
          ctx,
          this,
          record,
          msg,
          callerIdentity(record.agentId, this.#credentialId, this.#certificate?.service),
        );
      case 'ack':
        return onAck(ctx, this, record, msg);
      case 'nack':
        return onNack(ctx, this, record, msg);
      case 'csr':
        void this.#certificates?.request(msg.csrPem);
        return;
      case 'coord':
        void ctx.coordination?.request(this, msg);
        return;
      case 'error':
        ctx.log.warn({ agentId: record.agentId, code: msg.code, detail: msg.message }, 'agent reported an error');
        return;
    }
  }

  #onHello(sent: Hello): void {
    const ctx = this.#ctx;
    this.#guard.closed();
    const agreed = helloCredential(sent, this.#upgradeCredential);
    if (!agreed.ok) {
      ctx.metrics.joinRefusals.inc({ reason: 'credential_mismatch' });
      this.#fail(ControlPlaneErrorCodes.JOIN_TOKEN_INVALID, agreed.message, CloseCodes.UNAUTHORIZED);
      return;
    }
    const hello = agreed.hello;
    const previous = ctx.sessions.get(hello.agentId);
    const held = ctx.registry.get(hello.agentId);
    const holders = [
      ...(previous
        ? [{ admittedFor: previous.admittedFor, instance: previous.#record?.instance, connected: true }]
        : []),
      ...(held ? [held] : []),
    ];
    const admitted = admitHello(hello, ctx, this.#remoteAddress, holders, this.#certificate);
    if (!admitted.ok) {
      this.#fail(admitted.code, admitted.message, admitted.closeCode);
      return;
    }
    const misplaced = ctx.checkRegistration?.(hello, this.#remoteAddress);
    if (misplaced) {
      this.#fail(misplaced.code, misplaced.message, misplaced.closeCode);
      return;
    }
    this.#certificate = admitted.certificate;
    this.#guard.admitted();
    this.#credentialId = admitted.credentialId;
    this.#admittedFor = admitted.service;
    ctx.metrics.streamAdmissions.inc({ auth: admissionAuth(admitted, hello) });
    if (previous && previous !== this)
      previous.close(CloseCodes.REPLACED, 'replaced by a newer connection of the same agent');
    ctx.sessions.set(hello.agentId, this);
    const record = ctx.registry.connect(hello, this.#remoteAddress, admitted.service);
    this.#record = record;
    if (this.#certificate) notePresented(record, this.#certificate, ctx.metrics);
    ctx.metrics.connectedAgents.set(ctx.sessions.size);
    ctx.log.info(
      {
        agentId: hello.agentId,
        service: hello.instance?.service,
        remoteAddress: this.#remoteAddress,
        tableVersion: hello.tableVersion,
        auth: admissionAuth(admitted, hello),
      },
      'agent connected',
    );
    this.#certificates = sessionCertificates(ctx, {
      hello,
      admitted,
      record,
      presented: this.#certificate !== undefined,
      reply: (m) => this.#reply(m),
    });
    ctx.pusher.add(this, hello.tableVersion, hello.upstreams ?? []);
  }

  #onClose(code: number): void {
    const ctx = this.#ctx;
    this.#guard.closed();
    if (!this.#record) return;
    ctx.pusher.remove(this);
    ctx.coordination?.closed(this);
    this.#certificates?.close(ctx.sessions.get(this.#record.agentId) === this);
    if (ctx.sessions.get(this.#record.agentId) === this) {
      ctx.sessions.delete(this.#record.agentId);
      ctx.registry.disconnect(
        this.#record,
        this.#record.disconnectReason ?? `its stream closed (code ${code})`,
        code === CloseCodes.GOING_AWAY,
      );
    }
    ctx.metrics.connectedAgents.set(ctx.sessions.size);
    ctx.log.info({ agentId: this.#record.agentId }, 'agent disconnected');
  }

  /**
   * Sends the agent away because the credential it joined with was revoked:
   * out of the registry at once (as {@link expire} does), then the error, the
   * close frame and the end of the socket, without waiting (up to 30 s) for
   * the agent's close frame, which an attacker need never send.
   */
  revoked(): void {
    const message = `join credential ${this.#credentialId ?? ''} was revoked: mint a new one with "meshctl token create"`;
    if (this.#record) this.#ctx.registry.disconnect(this.#record, message);
    this.#ctx.metrics.joinRefusals.inc({ reason: 'revoked' });
    this.#ctx.log.warn(
      { agentId: this.#record?.agentId, credentialId: this.#credentialId },
      'sent away an agent whose join credential was revoked',
    );
    this.#fail(ControlPlaneErrorCodes.JOIN_TOKEN_INVALID, message, CloseCodes.UNAUTHORIZED);
    this.#socket.terminate();
  }

  /** Ends the stream of an agent that stopped sending heartbeats. */
  expire(timeoutMs: number): void {
    const record = this.record;
    const reason = `no heartbeat for over ${timeoutMs} ms`;
    this.#ctx.registry.disconnect(record, reason);
    this.#ctx.metrics.streamRejected.inc({ code: ControlPlaneErrorCodes.HEARTBEAT_TIMEOUT });
    this.#reply({ type: 'error', code: ControlPlaneErrorCodes.HEARTBEAT_TIMEOUT, message: reason });
    this.#socket.terminate();
  }
}
