-- Shared by the scripts that write user histories (prepended to each; see redis.rs).
-- A "big" append (more recipients than one script should handle while Redis waits) writes the
-- log entry and a first batch of histories at once and leaves the other recipients pending:
-- * named users beyond the first batch in the set <prefix>pending:<id>;
-- * a big topic's subscribers in its snapshot <prefix>r:<id> (see append.lua), by rank: those
--   from rank p on are not written yet, except the ones in the set <prefix>pending:<id>:h,
--   written early by help below.
-- The hash <prefix>pending:<id>:m holds d data, e event, f fallback, t the email due time in ms
-- when f is '1', and for a snapshot p and n (its size). The id is listed in the sorted set
-- <prefix>pending. Batches follow; until one reaches a user, anything that touches that user's
-- history (an append, a read) first writes the pending entry for them ("helps"), oldest first.
-- So every history stays in id order and every recipient gets the event under its one id.
-- A fallback event's email due entry (<prefix>due, member '<id>|<user>') is written with the
-- user's history, batch by batch, unless the user's live delivery was reported meanwhile: the
-- report (src/email/delivered.lua) then put the user in the set <prefix>pending:<id>:s.
-- A pending set left by an older version (no t, no p: its due entries were all written by its
-- first script) is finished the same way.

-- How long a topic snapshot (<prefix>r:<id>) outlives its last batch: long enough for every
-- relay's tail to read it (a tail further behind gives the event to the named users only and
-- clears its cache), short enough that frequent events to a big topic do not pile up
-- snapshots for the whole history TTL. Never longer than the history TTL.
local SNAPSHOT_AFTER_BATCHES_SECS = 3600
local function snapshot_ttl(ttl)
  return math.min(tonumber(ttl), SNAPSHOT_AFTER_BATCHES_SECS)
end

local function id_parts(id)
  local ms, seq = string.match(id, '^(%d+)-(%d+)$')
  return tonumber(ms), tonumber(seq)
end

local function id_less(a, b)
  local am, as = id_parts(a)
  local bm, bs = id_parts(b)
  return am < bm or (am == bm and as < bs)
end

-- Exact order of two normalised ids (no leading zeros) of any size: Lua numbers are doubles,
-- which cannot hold every 64-bit part, so the parts are compared as digit strings.
local function id_after(a, b)
  local am, as = string.match(a, '^(%d+)-(%d+)$')
  local bm, bs = string.match(b, '^(%d+)-(%d+)$')
  local function greater(x, y)
    if #x ~= #y then return #x > #y end
    return x > y
  end
  if am ~= bm then return greater(am, bm) end
  return greater(as, bs)
end

-- Unfinished big appends, oldest first (usually none: one ZRANGE on an empty key).
local function pending_ids(prefix, before)
  local ids = redis.call('ZRANGE', prefix .. 'pending', 0, -1)
  if before then
    local older = {}
    for _, id in ipairs(ids) do
      if id_less(id, before) then older[#older + 1] = id end
    end
    ids = older
  end
  table.sort(ids, id_less)
  return ids
end

local function write_history(prefix, user, id, data, event, keep, ttl, fallback)
  local key = prefix .. 'u:' .. user
  -- One entry more than the history length is kept: the oldest is a sentinel marking where
  -- trimming stopped, so a reader can tell a cursor that saw it (nothing lost) from an older one.
  -- The 'f' field (email fallback) is written only when set, so other events pay nothing.
  if fallback == '1' then
    redis.call('XADD', key, 'MAXLEN', keep + 1, id, 'd', data, 'e', event, 'f', '1')
  else
    redis.call('XADD', key, 'MAXLEN', keep + 1, id, 'd', data, 'e', event)
  end
  redis.call('EXPIRE', key, ttl)
end

-- Writes a pending entry's history for `user`, and its due entry (see above). `meta` is the
-- HMGET of d, e, f, t of the pending hash.
local function write_pending(prefix, set, pid, user, meta, keep, ttl)
  write_history(prefix, user, pid, meta[1], meta[2], keep, ttl, meta[3])
  if meta[3] == '1' and meta[4] and redis.call('SISMEMBER', set .. ':s', user) == 0 then
    redis.call('ZADD', prefix .. 'due', meta[4], pid .. '|' .. user)
  end
end

-- Writes the pending entries `user` has not received yet, oldest first.
local function help(prefix, pend, user, keep, ttl)
  for _, pid in ipairs(pend) do
    local set = prefix .. 'pending:' .. pid
    local due = redis.call('SREM', set, user) == 1
    if not due then
      local p = redis.call('HGET', set .. ':m', 'p')
      if p then
        local rank = redis.call('ZRANK', prefix .. 'r:' .. pid, user)
        due = rank ~= false and rank >= tonumber(p)
          and redis.call('SADD', set .. ':h', user) == 1
        if due then redis.call('EXPIRE', set .. ':h', ttl) end
      end
    end
    if due then
      local meta = redis.call('HMGET', set .. ':m', 'd', 'e', 'f', 't')
      write_pending(prefix, set, pid, user, meta, keep, ttl)
    end
  end
end
