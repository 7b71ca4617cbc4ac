/**
 * The frames of Livedesk's WebSocket (docs/design.md, "External contract"): what the client
 * sends, what the server sends, and the close codes. Types and names only; what the client
 * does with them is in connection.ts.
 */

/** Close codes the server uses (docs/design.md); 1006 is the browser's "dropped, no close". */
export const CloseCode = {
  goingAway: 1001,
  abnormal: 1006,
  internalError: 1011,
  tryAgainLater: 1013,
  unauthenticated: 4401,
  forbidden: 4403,
  authTimeout: 4408,
  tooSlow: 4409,
  rateLimited: 4429,
} as const;

/** The close reason of a 4401 that a fresh token cures (the gateway's session.py). */
export const TOKEN_EXPIRED = "token_expired";

export type Ref = string | number;
export type MessageKind = "incoming" | "outgoing" | "note";
export type ConversationStatus = "open" | "pending" | "resolved" | "snoozed";
export type AgentStatus = "online" | "busy" | "away" | "offline";
export type TypingState = "start" | "stop";

export type ClientFrame =
  | { type: "auth"; token: string; resume_from?: number; ref?: Ref }
  | { type: "subscribe"; conversation_id: number; ref?: Ref }
  | { type: "unsubscribe"; conversation_id: number; ref?: Ref }
  | { type: "typing"; conversation_id: number; state: TypingState; ref?: Ref }
  | { type: "ping"; ref?: Ref };

export interface Message {
  id: number;
  conversation_id: number;
  kind: MessageKind;
  content: string;
  sender_type: "contact" | "agent" | "system";
  sender_id: number | null;
  client_id: string | null;
  created_at: string;
}

export interface Conversation {
  id: number;
  inbox_id: number;
  contact_id: number;
  status: ConversationStatus;
  assignee_id: number | null;
  version: number;
  created_at: string;
  last_activity_at: string;
  /** While snoozed: when it reopens by itself. */
  snoozed_until?: string | null;
  /** Who made the last change; null: the system (a snooze ran out), or none yet. */
  updated_by_id?: number | null;
}

interface PersistentBase {
  offset: number;
  account_id: number;
  conversation_id: number;
  ts: string;
}

export interface NewMessageEvent extends PersistentBase {
  type: "new_message";
  data: Message;
}
export interface NewConversationEvent extends PersistentBase {
  type: "new_conversation";
  data: Conversation;
}
export interface ConversationUpdatedEvent extends PersistentBase {
  type: "conversation_updated";
  /** `by`: the agent who changed it; null: the system (a snooze ran out). */
  data: {
    conversation: Conversation;
    changed: ("status" | "assignee_id" | "snoozed_until")[];
    by?: number | null;
  };
}
export interface MessageReadEvent extends PersistentBase {
  type: "message_read";
  data: { user_id: number; message_id: number };
}

/** Events with an offset: gapless per account, replayed on resume. */
export type PersistentEvent =
  | NewMessageEvent
  | NewConversationEvent
  | ConversationUpdatedEvent
  | MessageReadEvent;

/** Events without an offset: at most once; their state is sent again on every connect. */
export type EphemeralEvent =
  | { type: "typing"; account_id: number; conversation_id: number; user_id: number; state: TypingState }
  | { type: "agent_status"; account_id: number; user_id: number; status: AgentStatus }
  | { type: "presence_state"; account_id: number; agents: Record<string, AgentStatus> };

/** `typing_interval_s`: how often to repeat a typing start, once the server says so. */
export interface ReadyFrame {
  type: "ready";
  node: string;
  account_id: number;
  user_id: number;
  offset: number;
  typing_interval_s?: number;
  ref?: Ref;
}

export type ControlFrame =
  | ReadyFrame
  | { type: "subscribed"; conversation_id: number; typing: number[]; ref?: Ref }
  | { type: "unsubscribed"; conversation_id: number; ref?: Ref }
  | { type: "pong"; offset: number | null; ref?: Ref }
  | { type: "error"; code: string; message: string; ref?: Ref }
  | { type: "resync_required"; offset: number; message: string }
  | { type: "reconnect"; message: string }
  | { type: "auth_renewed"; expires_at: number; ref?: Ref };

export type ServerFrame = ControlFrame | PersistentEvent | EphemeralEvent;

/**
 * The server frame types this client knows. A record keyed by the unions above, so the
 * compiler refuses a type added there and forgotten here; tests/unit/test_event_declaration.py
 * checks these against the server's declarations.
 */
const PERSISTENT_TYPES: Readonly<Record<PersistentEvent["type"], true>> = {
  new_message: true,
  new_conversation: true,
  conversation_updated: true,
  message_read: true,
};
const KNOWN_TYPES: Readonly<Record<ServerFrame["type"], true>> = {
  ...PERSISTENT_TYPES,
  typing: true,
  agent_status: true,
  presence_state: true,
  ready: true,
  subscribed: true,
  unsubscribed: true,
  pong: true,
  error: true,
  resync_required: true,
  reconnect: true,
  auth_renewed: true,
};

/**
 * One text frame from the server, or null for what this client does not know: a type added
 * to the contract after it was built ("additions are welcome") is skipped, not an error.
 * The server is trusted for the shape of the frames it names.
 */
export function parseServerFrame(text: string): ServerFrame | null {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return null;
  }
  if (typeof value !== "object" || value === null || !("type" in value)) return null;
  const type = (value as { type: unknown }).type;
  return typeof type === "string" && Object.hasOwn(KNOWN_TYPES, type) ? (value as ServerFrame) : null;
}

/** The offset of a persistent event, or undefined for control and ephemeral frames. */
export function persistentOffset(frame: ServerFrame): number | undefined {
  return Object.hasOwn(PERSISTENT_TYPES, frame.type) ? (frame as PersistentEvent).offset : undefined;
}
