/*
 * notify-client.js: the browser client of notify-relay. No dependencies.
 *
 *   <script src="/notify-client.js"></script>          classic script: window.NotifyClient
 *   import '/notify-client.js'; globalThis.NotifyClient  as a module (side-effect import)
 *
 * One file serves both because the relay embeds and serves exactly this file; a classic script
 * cannot contain `export`, so module users read the global the import defines.
 *
 *   const client = new NotifyClient({ token: async () => (await fetch('/my-token')).text() });
 *   client.on('message', (e) => console.log(e.id, e.event, e.data));
 *   client.on('reset', (r) => reloadState());
 *   client.on('end', (r) => {});  // the relay ended the stream (r.reason: token_expired,
 *                                 // max_stream_lifetime); the client reconnects by itself
 *   client.start();
 *
 * Delivery: every event once, in the server's order, across reconnects and transport switches.
 * The client owns the cursor (the last id it delivered) and reconnects itself with it; the
 * server replays what came after.
 */
(function (root) {
  'use strict';

  var DEFAULTS = {
    baseUrl: '',               // origin + path prefix of the relay; '' = this origin
    token: null,               // string, or (async) function called on every (re)connect; null = cookie
    events: [],                // named events to receive besides unnamed ones (EventSource needs names)
    transport: 'auto',         // 'auto' | 'sse' | 'poll'
    keepaliveSecs: 15,         // the relay's --keepalive-secs
    stallTimeoutMs: null,      // default keepaliveSecs * 1500 + 2000
    pollTimeoutSecs: 25,       // the relay's --poll-timeout-secs
    retryMinMs: 500,           // backoff: first delay
    retryMaxMs: 30000,         // backoff: ceiling
    sseRetryAfterMs: 300000,   // after falling back to poll, try SSE again this much later (0: never)
    lastEventId: null,         // resume from here instead of "now"
    withCredentials: false,    // send cookies cross-origin (baseUrl on another origin)
    shared: false,             // true or a name: one connection for all tabs of this origin
    onMessage: null,
    onReset: null,
    onState: null
  };

  // How many delivered ids to remember for de-duplication. Ids are opaque, so only equality is
  // used; the server never sends an old id after a newer one, so a short memory is enough.
  var SEEN_MAX = 256;

  function NotifyClient(options) {
    if (!(this instanceof NotifyClient)) return new NotifyClient(options);
    var o = {};
    var k;
    for (k in DEFAULTS) o[k] = DEFAULTS[k];
    for (k in options || {}) if (options[k] !== undefined) o[k] = options[k];
    if (o.stallTimeoutMs == null) o.stallTimeoutMs = o.keepaliveSecs * 1500 + 2000;
    this.options = o;
    this.transport = null;      // 'sse' | 'poll' | null (followers mirror the leader's)
    this.state = 'idle';        // 'idle' | 'connecting' | 'open' | 'reconnecting' | 'closed'
    this.role = null;           // 'leader' | 'follower' | null (not shared)
    this.lastEventId = o.lastEventId || null;
    this._listeners = {};
    this._seen = [];
    this._seenSet = new Set();
    this._attempt = 0;
    this._sseFailures = 0;
    this._sseBlockedUntil = 0;
    this._gen = 0;              // bumps on every connection attempt; stale callbacks check it
    this._timers = new Set();
    this._es = null;
    this._abort = null;
    this._closed = false;
    this._started = false;
  }

  NotifyClient.prototype.on = function (type, fn) {
    (this._listeners[type] = this._listeners[type] || []).push(fn);
    var self = this;
    return function off() {
      var l = self._listeners[type] || [];
      var i = l.indexOf(fn);
      if (i >= 0) l.splice(i, 1);
    };
  };

  NotifyClient.prototype._emit = function (type, arg) {
    var cb = { message: 'onMessage', reset: 'onReset', state: 'onState' }[type];
    var fns = (this._listeners[type] || []).slice();
    if (cb && typeof this.options[cb] === 'function') fns.unshift(this.options[cb]);
    for (var i = 0; i < fns.length; i++) {
      // A throwing handler must not break delivery to the others or the connection loop.
      try { fns[i].call(this, arg); } catch (e) { setTimeout(function () { throw e; }); }
    }
  };

  NotifyClient.prototype._setState = function (state, transport) {
    if (transport !== undefined) this.transport = transport;
    if (this.state === state && transport === undefined) return;
    this.state = state;
    this._emit('state', { state: state, transport: this.transport, role: this.role });
    if (this.role === 'leader') this._post({ type: 'state', state: state, transport: this.transport });
  };

  NotifyClient.prototype.start = function () {
    if (this._started) return this;
    this._started = true;
    if (this.options.shared && root.BroadcastChannel && root.navigator && navigator.locks) {
      this._startShared();
    } else {
      this._connect();
    }
    return this;
  };

  NotifyClient.prototype.close = function () {
    if (this._closed) return;
    this._closed = true;
    this._gen++;
    this._teardown();
    if (this._releaseLock) this._releaseLock();
    if (this._lockAbort) this._lockAbort.abort();
    if (this._bc) { this._bc.close(); this._bc = null; }
    this._setState('closed', null);
  };

  NotifyClient.prototype._teardown = function () {
    if (this._es) { this._es.close(); this._es = null; }
    if (this._abort) { this._abort.abort(); this._abort = null; }
    this._timers.forEach(clearTimeout);
    this._timers.clear();
  };

  NotifyClient.prototype._later = function (fn, ms) {
    var self = this;
    var t = setTimeout(function () { self._timers.delete(t); fn(); }, ms);
    this._timers.add(t);
    return t;
  };

  // ---- delivery ---------------------------------------------------------------------------

  NotifyClient.prototype._remember = function (id) {
    this._seen.push(id);
    this._seenSet.add(id);
    if (this._seen.length > SEEN_MAX) this._seenSet.delete(this._seen.shift());
  };

  // Every event, from any transport or from the leader tab, passes here exactly once.
  NotifyClient.prototype._deliver = function (id, name, rawData, transport) {
    if (id == null || id === '' || this._seenSet.has(id)) return;
    this._remember(id);
    this.lastEventId = id;
    var data = rawData;
    if (typeof rawData === 'string') {
      try { data = JSON.parse(rawData); } catch (e) { data = rawData; }
    }
    var evt = { id: id, event: name || 'message', data: data, transport: transport };
    if (this.role === 'leader') this._post({ type: 'event', evt: evt });
    this._emit('message', evt);
  };

  NotifyClient.prototype._wanted = function (name) {
    return !name || name === 'message' || this.options.events.indexOf(name) >= 0;
  };

  NotifyClient.prototype._reset = function (cursor, info) {
    this.lastEventId = cursor || null;
    var r = { cursor: this.lastEventId, reason: (info && info.reason) || 'cursor_too_old', message: info && info.message };
    if (this.role === 'leader') this._post({ type: 'reset', reset: r });
    this._emit('reset', r);
  };

  // ---- connection loop --------------------------------------------------------------------

  NotifyClient.prototype._url = function (path, params) {
    var q = [];
    for (var k in params) {
      if (params[k] != null && params[k] !== '') q.push(encodeURIComponent(k) + '=' + encodeURIComponent(params[k]));
    }
    return this.options.baseUrl.replace(/\/$/, '') + path + (q.length ? '?' + q.join('&') : '');
  };

  NotifyClient.prototype._token = function () {
    var t = this.options.token;
    // Called on every (re)connect: tokens expire, and a stream outlives the one that opened it.
    return Promise.resolve(typeof t === 'function' ? t() : t);
  };

  NotifyClient.prototype._backoff = function () {
    var o = this.options;
    var cap = Math.min(o.retryMaxMs, o.retryMinMs * Math.pow(2, this._attempt));
    this._attempt = Math.min(this._attempt + 1, 30);
    // Half fixed, half random: spreads a crowd of browsers reconnecting after a relay restart
    // while keeping a floor so a flapping server is not hammered.
    return cap / 2 + Math.random() * cap / 2;
  };

  NotifyClient.prototype._retry = function (gen) {
    if (gen !== this._gen || this._closed) return;
    this._teardown();
    this._setState('reconnecting');
    var self = this;
    this._later(function () { self._connect(); }, this._backoff());
  };

  NotifyClient.prototype._useSse = function () {
    var o = this.options;
    if (o.transport === 'poll' || typeof root.EventSource !== 'function') return false;
    if (o.transport === 'sse') return true;
    return Date.now() >= this._sseBlockedUntil;
  };

  NotifyClient.prototype._connect = function () {
    if (this._closed) return;
    var gen = ++this._gen;
    var self = this;
    if (this.state !== 'reconnecting') this._setState('connecting');
    this._token().then(function (token) {
      if (gen !== self._gen) return;
      // Without a cursor of our own, a stream that drops before its first event would resume
      // from "now" and lose what came in between; one cursorless poll answers with the head.
      if (!self.lastEventId) return self._fetchPoll(gen, token, null, 0).then(function (body) {
        if (gen !== self._gen) return;
        if (!self.lastEventId) self.lastEventId = body.cursor;
        if (self.role === 'leader') self._post({ type: 'cursor', id: self.lastEventId });
        return token;
      });
      return token;
    }).then(function (token) {
      if (gen !== self._gen) return;
      if (self._useSse()) self._runSse(gen, token);
      else self._pollLoop(gen, token);
    }).catch(function (err) {
      if (gen !== self._gen) return;
      self._lastError = err;
      self._retry(gen);
    });
  };

  NotifyClient.prototype._runSse = function (gen, token) {
    var self = this;
    var o = this.options;
    var opened = false;
    var openedAt = 0;
    var heartbeats = false;
    var watchdog = null;
    var es = new EventSource(this._url('/events', { token: token, last_event_id: this.lastEventId, keepalive: 'event' }),
      { withCredentials: !!o.withCredentials });
    this._es = es;

    // Armed from construction, not from `open`: a buffering proxy may hold the headers as well
    // as the body, so `open` may never fire. Nothing at all within a keepalive interval and a
    // half means the stream is not reaching us; long-poll still can.
    function arm() {
      if (watchdog) { clearTimeout(watchdog); self._timers.delete(watchdog); }
      watchdog = self._later(stalled, o.stallTimeoutMs);
    }
    function stalled() {
      if (gen !== self._gen) return;
      self._lastError = new Error('no byte from /events within ' + o.stallTimeoutMs + ' ms');
      if (o.transport !== 'sse') self._sseBlockedUntil = Date.now() + (o.sseRetryAfterMs || Infinity);
      self._teardown();
      self._connect();
    }
    function alive() {
      if (!opened) {
        opened = true;
        openedAt = Date.now();
        self._setState('open', 'sse');
      }
      // Keepalive comments are invisible to EventSource, so the stream is opened with
      // ?keepalive=event: visible `keepalive` events keep the watchdog running once open.
      if (heartbeats) arm();
      else if (watchdog) { clearTimeout(watchdog); self._timers.delete(watchdog); watchdog = null; }
      // Only a connection that stayed up resets the backoff, so one that drops at once cannot
      // turn into a reconnect loop at the minimum delay.
      if (Date.now() - openedAt > o.stallTimeoutMs) self._attempt = 0;
    }
    function onEvent(e) {
      if (gen !== self._gen) return;
      alive();
      if (self._wanted(e.type)) self._deliver(e.lastEventId, e.type, e.data, 'sse');
    }
    arm();
    es.onopen = function () { if (gen === self._gen) { self._sseFailures = 0; alive(); } };
    es.onmessage = onEvent;
    for (var i = 0; i < o.events.length; i++) {
      if (o.events[i] !== 'message' && o.events[i] !== 'reset') es.addEventListener(o.events[i], onEvent);
    }
    es.addEventListener('keepalive', function () {
      if (gen !== self._gen) return;
      heartbeats = true;
      alive();
    });
    es.addEventListener('reset', function (e) {
      if (gen !== self._gen) return;
      alive();
      var info = {};
      try { info = JSON.parse(e.data); } catch (err) { /* keep defaults */ }
      // The cursor comes from the frame's `id:` line, which only the relay writes; never from
      // `data`, which a publisher could shape.
      self._reset(e.lastEventId, info);
    });
    // The relay ends a stream when its token expires (`token-expired`) or at its maximum
    // lifetime (`reconnect`). Reconnect from our cursor with a fresh token from the callback: at
    // once if the stream had lived a while, else with backoff so a bad token cannot spin.
    ['token-expired', 'reconnect'].forEach(function (name) {
      es.addEventListener(name, function (e) {
        if (gen !== self._gen) return;
        var info = {};
        try { info = JSON.parse(e.data); } catch (err) { /* keep defaults */ }
        self._emit('end', { reason: info.reason || name, message: info.message });
        if (Date.now() - openedAt <= o.stallTimeoutMs) return self._retry(gen);
        self._attempt = 0;
        self._teardown();
        self._connect();
      });
    });
    es.onerror = function () {
      if (gen !== self._gen) return;
      // The browser would reconnect on its own with its own idea of the cursor; we reconnect
      // with ours (and a fresh token), so close this one.
      es.close();
      self._es = null;
      if (opened) {
        if (Date.now() - openedAt > o.stallTimeoutMs) self._attempt = 0;
        return self._retry(gen);
      }
      // Failed before opening: SSE may be blocked on the way, or the relay may be down. A poll
      // tells them apart; only "poll works, SSE does not" twice in a row moves us to polling.
      self._sseSuspect = true;
      self._teardown();
      self._pollLoop(++self._gen, token);
    };
  };

  NotifyClient.prototype._fetchPoll = function (gen, token, cursor, timeoutSecs) {
    var self = this;
    var ctrl = typeof AbortController === 'function' ? new AbortController() : null;
    this._abort = ctrl;
    var headers = { Accept: 'application/json' };
    // A header keeps the token out of URLs and so out of proxy logs.
    if (token) headers.Authorization = 'Bearer ' + token;
    // A proxy that swallows the answer must not park us forever.
    var guard = this._later(function () { if (ctrl) ctrl.abort(); }, (timeoutSecs + 15) * 1000);
    return fetch(this._url('/poll', { cursor: cursor, timeout: cursor ? timeoutSecs : null }), {
      headers: headers,
      cache: 'no-store',
      credentials: this.options.withCredentials ? 'include' : 'same-origin',
      signal: ctrl ? ctrl.signal : undefined
    }).then(function (res) {
      clearTimeout(guard);
      self._timers.delete(guard);
      if (res.status === 400 && cursor) {
        // The server cannot read our cursor (an id from another deployment?): start over.
        var e400 = new Error('cursor rejected');
        e400.badCursor = true;
        throw e400;
      }
      if (!res.ok) throw new Error('/poll answered ' + res.status);
      return res.json();
    }, function (err) {
      clearTimeout(guard);
      self._timers.delete(guard);
      throw err;
    });
  };

  NotifyClient.prototype._pollLoop = function (gen, token) {
    var self = this;
    var o = this.options;
    var first = true;
    function round() {
      if (gen !== self._gen || self._closed) return;
      // The SSE block has expired: give streaming another chance, cursor in hand.
      if (!first && o.transport === 'auto' && !self._sseSuspect && self._useSse() && !self._pollOnly()) {
        return self._connect();
      }
      var refresh = first ? Promise.resolve(token) : self._token();
      refresh.then(function (t) {
        token = t;
        // The first round asks for an immediate answer: it tells us at once that polling works
        // (state 'open'), instead of after a quiet poll's full wait.
        return self._fetchPoll(gen, t, self.lastEventId, first ? 0 : o.pollTimeoutSecs);
      }).then(function (body) {
        if (gen !== self._gen) return;
        if (self._sseSuspect) {
          self._sseSuspect = false;
          self._sseFailures++;
          if (self._sseFailures >= 2 && o.transport === 'auto') {
            self._sseBlockedUntil = Date.now() + (o.sseRetryAfterMs || Infinity);
          }
        }
        if (first) { first = false; self._setState('open', 'poll'); }
        self._attempt = 0;
        if (body.reset) self._reset(body.cursor, { reason: 'cursor_too_old' });
        var evs = body.events || [];
        for (var i = 0; i < evs.length; i++) {
          var ev = evs[i];
          if (self._wanted(ev.event)) self._deliver(ev.id, ev.event, ev.data, 'poll');
        }
        // The poll cursor also moves past events we did not want; SSE would skip them too.
        if (body.cursor) self.lastEventId = body.cursor;
        round();
      }).catch(function (err) {
        if (gen !== self._gen) return;
        self._lastError = err;
        // The relay is unreachable, not just its stream: the next attempt may be SSE again.
        self._sseSuspect = false;
        if (err && err.badCursor) { self._reset(null, { reason: 'cursor_rejected' }); }
        self._retry(gen);
      });
    }
    round();
  };

  // True while a fallback is in force (so the poll loop keeps polling).
  NotifyClient.prototype._pollOnly = function () {
    return Date.now() < this._sseBlockedUntil;
  };

  // ---- one connection for all tabs --------------------------------------------------------
  //
  // Over HTTP/1.1 a browser allows six connections per origin; ten tabs each holding a stream
  // would starve the page itself. With `shared`, tabs elect a leader with a Web Lock (held while
  // the leader lives, released by the browser when its tab goes away); the leader connects and
  // relays events over a BroadcastChannel, and a waiting tab takes over with the last cursor.

  NotifyClient.prototype._startShared = function () {
    var self = this;
    var name = 'notify-relay:' + (this.options.shared === true ? 'default' : String(this.options.shared));
    this._bc = new BroadcastChannel(name);
    this._bc.onmessage = function (m) { self._onShared(m.data || {}); };
    this.role = 'follower';
    this._setState('connecting');
    this._post({ type: 'hello' });
    this._lockAbort = typeof AbortController === 'function' ? new AbortController() : null;
    navigator.locks.request(name, { signal: this._lockAbort ? this._lockAbort.signal : undefined }, function () {
      if (self._closed) return;
      self.role = 'leader';
      self._connect();
      return new Promise(function (resolve) { self._releaseLock = resolve; });
    }).catch(function () { /* aborted by close() */ });
  };

  NotifyClient.prototype._post = function (msg) {
    if (this._bc) this._bc.postMessage(msg);
  };

  NotifyClient.prototype._onShared = function (msg) {
    if (this._closed) return;
    if (this.role === 'leader') {
      // A new tab asks where we stand, so it can take over from the right cursor later.
      if (msg.type === 'hello') {
        this._post({ type: 'cursor', id: this.lastEventId });
        this._post({ type: 'state', state: this.state, transport: this.transport });
      }
      return;
    }
    if (msg.type === 'event') {
      this._deliver(msg.evt.id, msg.evt.event, msg.evt.data, msg.evt.transport);
    } else if (msg.type === 'cursor') {
      if (msg.id && !this.lastEventId) this.lastEventId = msg.id;
    } else if (msg.type === 'reset') {
      this.lastEventId = msg.reset.cursor;
      this._emit('reset', msg.reset);
    } else if (msg.type === 'state') {
      this._setState(msg.state, msg.transport);
    }
  };

  root.NotifyClient = NotifyClient;
  if (typeof module === 'object' && module && module.exports) module.exports = NotifyClient;
})(typeof globalThis !== 'undefined' ? globalThis : typeof self !== 'undefined' ? self : this);
