-- Appends one event to the log and to each recipient's history under the same id, atomically
-- for up to ARGV[11] recipients; beyond that the rest is left pending (see pending.lua).
-- A topic is expanded to its subscribers here, in the same step, so a subscriber added or
-- removed concurrently is either in or out, never half.
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
if ARGV[7] ~= '' and redis.call('GET', KEYS[3]) ~= ARGV[7] then
  -- A bridge that lost its lease must not append: the new holder bridges the same messages.
  return redis.error_reply('NOTLEASE this instance does not hold the bridge lease')
end
local prefix, keep, ttl, batch = ARGV[8], tonumber(ARGV[4]), ARGV[5], tonumber(ARGV[11])
local excluded = {}
for _, user in ipairs(cjson.decode(ARGV[10])) do excluded[user] = true end
local users, seen = {}, {}
local function add(user)
  if not excluded[user] and not seen[user] then
    seen[user] = true
    users[#users + 1] = user
  end
end
for _, user in ipairs(cjson.decode(ARGV[3])) do add(user) end
if ARGV[9] == '1' then
  -- Counted before it is read: the work of this script stays bounded by the cap.
  if redis.call('ZCARD', KEYS[4]) > tonumber(ARGV[14]) then
    return redis.error_reply('TOPICTOOLARGE the topic has more subscribers than allowed')
  end
  for _, user in ipairs(redis.call('ZRANGE', KEYS[4], 0, -1)) do add(user) end
end
if #users == 0 then
  return {false, 0, 0}
end
local fallback = ARGV[12]
local id
if fallback == '1' then
  id = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[6], '*',
    'd', ARGV[1], 'e', ARGV[2], 'u', cjson.encode(users), 'f', '1')
  -- Each recipient is due for email after the grace period unless a delivery removes the entry
  -- first; added here so that no crash can store the event without its due entries.
  local due_at = id_parts(id) + tonumber(ARGV[13])
  for i = 1, #users, 500 do
    local batch_args = {}
    for j = i, math.min(i + 499, #users) do
      batch_args[#batch_args + 1] = due_at
      batch_args[#batch_args + 1] = id .. '|' .. users[j]
    end
    redis.call('ZADD', prefix .. 'due', unpack(batch_args))
  end
else
  id = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[6], '*',
    'd', ARGV[1], 'e', ARGV[2], 'u', cjson.encode(users))
end
-- The first id of this store's life: cursors older than it belong to data the store lost.
redis.call('SET', KEYS[2], id, 'NX')
local pend = pending_ids(prefix, nil)
local now = math.min(#users, batch)
for i = 1, now do
  if #pend > 0 then help(prefix, pend, users[i], keep, ttl) end
  write_history(prefix, users[i], id, ARGV[1], ARGV[2], keep, ttl, fallback)
end
if #users > now then
  local set = prefix .. 'pending:' .. id
  for i = now + 1, #users, 1000 do
    redis.call('SADD', set, unpack(users, i, math.min(i + 999, #users)))
  end
  redis.call('HSET', set .. ':m', 'd', ARGV[1], 'e', ARGV[2], 'f', fallback)
  redis.call('EXPIRE', set, ttl)
  redis.call('EXPIRE', set .. ':m', ttl)
  redis.call('ZADD', prefix .. 'pending', id_parts(id), id)
end
return {id, #users, #users - now}
