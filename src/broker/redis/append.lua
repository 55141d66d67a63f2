-- Appends one event to the log and to each recipient's history under the same id, atomically
-- for up to ARGV[11] recipients; beyond that the rest is left pending (see pending.lua).
-- A topic's subscribers are taken in the same step, so a subscriber added or removed
-- concurrently is either in or out, never half.
-- KEYS[1] log stream, KEYS[2] epoch string, KEYS[3] bridge lease, KEYS[4] topic set (or any
-- key of the same slot when ARGV[9] is '')
-- ARGV[1] data (compact JSON), ARGV[2] event name or '', ARGV[3] named recipients (JSON array),
-- ARGV[4] history length per user, ARGV[5] history TTL in seconds, ARGV[6] log length,
-- ARGV[7] lease token the caller must hold, or '' for an append that needs no lease,
-- ARGV[8] key prefix ('<prefix>:{0}:'), ARGV[9] '1' to expand the topic, ARGV[10] excluded
-- users (JSON array), ARGV[11] most histories to write in this call, ARGV[12] '1' when the
-- event falls back to email, ARGV[13] the email grace period in ms, ARGV[14] most subscribers
-- a topic may have (a larger one is refused before anything is written)
-- Returns {id, recipient count, recipients left pending}, or {false, 0, 0} when no recipient is
-- left (nothing stored).
--
-- The log entry: d data, e event, f '1' for email fallback, u recipients (JSON array) and, for
-- a topic with more recipients than ARGV[11] (a "big" topic), r: how many topic subscribers
-- the entry also goes to. They are in the sorted set <prefix>r:<id>, a snapshot of the topic
-- taken here with COPY (minus the excluded and the named users, who are in u), kept for the
-- history TTL: every instance's tail reads it (see tail.rs) and the batches write its members
-- by rank (see pending.lua). So the Lua work of this script is bounded by ARGV[11] plus the
-- named and excluded users, whatever the topic's size; the one copy runs at C speed.
-- Other keys written: <prefix>r:new (the snapshot before its id is known; renamed at once),
-- <prefix>pending:<id> and the keys next to it (see pending.lua), <prefix>due.
if ARGV[7] ~= '' and redis.call('GET', KEYS[3]) ~= ARGV[7] then
  -- A bridge that lost its lease must not append: the new holder bridges the same messages.
  return redis.error_reply('NOTLEASE this instance does not hold the bridge lease')
end
local prefix, keep, ttl, batch = ARGV[8], tonumber(ARGV[4]), ARGV[5], tonumber(ARGV[11])
local excluded_list = cjson.decode(ARGV[10])
local excluded = {}
for _, user in ipairs(excluded_list) do excluded[user] = true end
local users, seen = {}, {}
local function add(user)
  if not excluded[user] and not seen[user] then
    seen[user] = true
    users[#users + 1] = user
  end
end
for _, user in ipairs(cjson.decode(ARGV[3])) do add(user) end
local named = #users
-- Topic subscribers not in `users`, held in the snapshot <prefix>r:new (big topics only).
local snapshot, in_snapshot = prefix .. 'r:new', 0
if ARGV[9] == '1' then
  -- Counted before it is read: the work of this script stays bounded by the cap.
  local size = redis.call('ZCARD', KEYS[4])
  if size > tonumber(ARGV[14]) then
    return redis.error_reply('TOPICTOOLARGE the topic has more subscribers than allowed')
  end
  if size + named <= batch then
    -- A small topic: listed in the entry, written now, as for named users.
    for _, user in ipairs(redis.call('ZRANGE', KEYS[4], 0, -1)) do add(user) end
  elseif size > 0 then
    redis.call('COPY', KEYS[4], snapshot, 'REPLACE')
    local function drop(list)
      for i = 1, #list, 1000 do
        redis.call('ZREM', snapshot, unpack(list, i, math.min(i + 999, #list)))
      end
    end
    drop(excluded_list)
    drop(users)
    in_snapshot = redis.call('ZCARD', snapshot)
  end
end
local total = #users + in_snapshot
if total == 0 then
  return {false, 0, 0}
end
local fallback = ARGV[12]
-- cjson writes an empty table as an object.
local fields = {'d', ARGV[1], 'e', ARGV[2], 'u', #users > 0 and cjson.encode(users) or '[]'}
if in_snapshot > 0 then
  fields[#fields + 1] = 'r'
  fields[#fields + 1] = in_snapshot
end
if fallback == '1' then
  fields[#fields + 1] = 'f'
  fields[#fields + 1] = '1'
end
local id = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[6], '*', unpack(fields))
-- The first id of this store's life: cursors older than it belong to data the store lost.
redis.call('SET', KEYS[2], id, 'NX')
local set = prefix .. 'pending:' .. id
local ref = prefix .. 'r:' .. id
if in_snapshot > 0 then
  redis.call('RENAME', snapshot, ref)
  -- Kept while batches still write from it (the history TTL); see the end of this script.
  redis.call('EXPIRE', ref, ttl)
end
-- Each recipient is due for email after the grace period unless a delivery removes the entry
-- first; written with the recipient's history (here, or by the batch or help that writes it),
-- so that no crash can leave a stored history without its due entry.
local due_at = fallback == '1' and (id_parts(id) + tonumber(ARGV[13])) or nil
local pend = pending_ids(prefix, nil)
local function write(user)
  if #pend > 0 then help(prefix, pend, user, keep, ttl) end
  write_history(prefix, user, id, ARGV[1], ARGV[2], keep, ttl, fallback)
  if due_at then
    redis.call('ZADD', prefix .. 'due', due_at, id .. '|' .. user)
  end
end
local now = math.min(#users, batch)
for i = 1, now do write(users[i]) end
-- Named users beyond the batch wait in the pending set.
for i = now + 1, #users, 1000 do
  redis.call('SADD', set, unpack(users, i, math.min(i + 999, #users)))
end
-- Then the snapshot, by rank: the first ranks now, the rest from rank p on.
local p = 0
if now < batch and in_snapshot > 0 then
  for _, user in ipairs(redis.call('ZRANGE', ref, 0, batch - now - 1)) do write(user) end
  p = math.min(batch - now, in_snapshot)
end
local left = #users - now + in_snapshot - p
if left > 0 then
  local meta = {'d', ARGV[1], 'e', ARGV[2], 'f', fallback}
  if due_at then
    meta[#meta + 1] = 't'
    meta[#meta + 1] = due_at
  end
  if in_snapshot > 0 then
    meta[#meta + 1] = 'p'
    meta[#meta + 1] = p
    meta[#meta + 1] = 'n'
    meta[#meta + 1] = in_snapshot
  end
  redis.call('HSET', set .. ':m', unpack(meta))
  redis.call('EXPIRE', set, ttl)
  redis.call('EXPIRE', set .. ':m', ttl)
  redis.call('ZADD', prefix .. 'pending', id_parts(id), id)
elseif in_snapshot > 0 then
  -- Every history is written: only the tails still read the snapshot, within seconds.
  redis.call('EXPIRE', ref, snapshot_ttl(ttl))
end
return {id, total, left}
