// Types of the notify-relay browser client (notify-client.js). Every option, event, property
// and method of the client is declared here; clients/js/test checks that the events match the
// code and docs/BROWSER.md.

/** What `token` may be: a token, or a function giving a fresh one on every (re)connect. */
export type TokenSource = string | null | (() => string | null | Promise<string | null>);

/** The transports the client can use. */
export type Transport = 'sse' | 'poll';

/** Connection states, in the order a client usually goes through them. */
export type ConnectionState = 'idle' | 'connecting' | 'open' | 'reconnecting' | 'closed';

/** A tab's part in a `shared` connection. */
export type Role = 'leader' | 'follower';

/** The options of `new NotifyClient(options)`; every one is optional. */
export interface NotifyClientOptions<Data = any> {
  /** Origin and path prefix of the relay; `''` (default) is this origin. */
  baseUrl?: string;
  /** A token, or a function (may be async) called on every connect and reconnect; `null` (default): the `notify_token` cookie. */
  token?: TokenSource;
  /** Named events (`"event"` in the published JSON) to receive besides unnamed ones. Default `[]`. */
  events?: string[];
  /** `'auto'` (default), or force `'sse'` or `'poll'`. */
  transport?: 'auto' | Transport;
  /** The relay's `--keepalive-secs`. Default 15. */
  keepaliveSecs?: number;
  /** How long a new stream may stay silent before the client falls back to long-poll. Default `keepaliveSecs * 1500 + 2000`. */
  stallTimeoutMs?: number | null;
  /** How long a poll is held (the relay caps it at `--poll-timeout-secs`). Default 25. */
  pollTimeoutSecs?: number;
  /** Reconnect backoff: first delay in ms. Default 500. */
  retryMinMs?: number;
  /** Reconnect backoff: ceiling in ms. Default 30000. */
  retryMaxMs?: number;
  /** After falling back to long-poll, try SSE again this much later; 0: never. Default 300000. */
  sseRetryAfterMs?: number;
  /** Resume from this id instead of from "now". Default `null`. */
  lastEventId?: string | null;
  /** Send cookies to a relay on another origin. Default `false`. */
  withCredentials?: boolean;
  /** `true` or a name: one connection for all tabs of this origin. Default `false`. */
  shared?: boolean | string;
  /** Same as `client.on('message', fn)`. */
  onMessage?: ((this: NotifyClient<Data>, event: NotifyMessage<Data>) => void) | null;
  /** Same as `client.on('reset', fn)`. */
  onReset?: ((this: NotifyClient<Data>, reset: NotifyReset) => void) | null;
  /** Same as `client.on('state', fn)`. */
  onState?: ((this: NotifyClient<Data>, state: NotifyStateChange) => void) | null;
}

/** One notification: every event arrives once, in the relay's order. */
export interface NotifyMessage<Data = any> {
  /** The event id, which is also the cursor. */
  id: string;
  /** The SSE event name; `'message'` for unnamed events. */
  event: string;
  /** The JSON object the publisher sent (a string if it was not JSON). */
  data: Data;
  /** The transport it came by (a follower tab gets the leader's). */
  transport: Transport;
}

/** The cursor was older than the relay's history (or rejected): events may have been missed. */
export interface NotifyReset {
  /** Where delivery continues from. */
  cursor: string | null;
  /** `'cursor_too_old'`, `'cursor_rejected'`, or the relay's reason. */
  reason: 'cursor_too_old' | 'cursor_rejected' | (string & {});
  /** The relay's explanation, when it sent one. */
  message?: string;
}

/** The connection changed state. */
export interface NotifyStateChange {
  state: ConnectionState;
  transport: Transport | null;
  role: Role | null;
}

/** The relay ended the stream; the client reconnects by itself with a fresh token. */
export interface NotifyEnd {
  /** `'token_expired'` or `'max_stream_lifetime'` (or the SSE event name if the relay gave none). */
  reason: 'token_expired' | 'max_stream_lifetime' | (string & {});
  message?: string;
}

/** The events of `client.on(type, fn)` and what their listeners receive. */
export interface NotifyClientEventMap<Data = any> {
  message: NotifyMessage<Data>;
  reset: NotifyReset;
  state: NotifyStateChange;
  end: NotifyEnd;
}

/** The notify-relay browser client. `Data` is the type of the published objects. */
export declare class NotifyClient<Data = any> {
  constructor(options?: NotifyClientOptions<Data>);
  /** The options with their defaults filled in. */
  readonly options: Required<Omit<NotifyClientOptions<Data>, 'stallTimeoutMs'>> & { stallTimeoutMs: number };
  /** The current transport; a follower tab mirrors its leader's. */
  transport: Transport | null;
  state: ConnectionState;
  /** `null` without `shared`. */
  role: Role | null;
  /** The cursor: the last id delivered, or the position the relay reported. */
  lastEventId: string | null;
  /** Connects; returns the client. */
  start(): this;
  /** Stops for good: closes the stream, aborts any poll, gives up the shared connection. */
  close(): void;
  /** Adds a listener; returns a function that removes it. */
  on<K extends keyof NotifyClientEventMap<Data>>(
    type: K,
    listener: (this: NotifyClient<Data>, arg: NotifyClientEventMap<Data>[K]) => void,
  ): () => void;
}

export default NotifyClient;
