import type { Routes } from '@meshlet/shared';
import type { AgentRecord } from '../registry/agent-record.js';

/** A connected agent that can be sent a table. */
export interface TableSink {
  readonly record: AgentRecord;
  /** `text` is `message` serialised once per distinct message, not once per agent. */
  send(message: Routes, text: string): void;
}
