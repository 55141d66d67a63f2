-- Sends the digests whose window has closed to the outbox stream, one entry per user, with a
-- `queued` record in the notification log, all in this one script (a crash cannot half-do it).
-- ARGV[1] key prefix, ARGV[2] most digests, ARGV[3] outbox length, ARGV[4] log retention (ms),
-- ARGV[5] most log records, ARGV[6] log retention (s), ARGV[7] '1' when the SQL sink is on (a
-- copy of each new record goes to the stream `notifications:db`). Time is Redis's own.
-- Returns the number of emails queued.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local prefix, max, outbox_len = ARGV[1], ARGV[2], ARGV[3]
local retention, cap, ttl = tonumber(ARGV[4]), tonumber(ARGV[5]), ARGV[6]
local users = redis.call('ZRANGEBYSCORE', prefix .. 'digests', '-inf', now, 'LIMIT', 0, max)
local queued = 0
for _, user in ipairs(users) do
  redis.call('ZREM', prefix .. 'digests', user)
  local list = prefix .. 'digest:' .. user
  local items = redis.call('LRANGE', list, 0, -1)
  redis.call('DEL', list)
  -- The contact is read again: the user may have turned email off meanwhile.
  local contact = redis.call('HMGET', prefix .. 'contact:' .. user, 'email', 'email_fallback')
  if #items > 0 and contact[1] and contact[2] == '1' then
    local ids = {}
    for i, item in ipairs(items) do ids[i] = cjson.decode(item).id end
    local ids_json = cjson.encode(ids)
    local nid = redis.call('XADD', prefix .. 'outbox', 'MAXLEN', '~', outbox_len, '*',
      'user', user, 'email', contact[1], 'events', '[' .. table.concat(items, ',') .. ']')
    local record = prefix .. 'n:' .. nid
    redis.call('HSET', record, 'id', nid, 'user', user, 'type', 'email', 'status', 'queued',
      'attempts', 0, 'email', contact[1], 'event_ids', ids_json,
      'created_at_ms', now, 'updated_at_ms', now)
    redis.call('EXPIRE', record, ttl)
    if ARGV[7] == '1' then
      redis.call('XADD', prefix .. 'notifications:db', '*', 'id', nid, 'user', user, 'type', 'email',
        'status', 'queued', 'attempts', 0, 'email', contact[1], 'event_ids', ids_json,
        'created_at_ms', now, 'updated_at_ms', now)
    end
    local index, user_index = prefix .. 'notifications', prefix .. 'notifications:u:' .. user
    redis.call('ZADD', index, now, nid)
    redis.call('ZADD', user_index, now, nid)
    redis.call('EXPIRE', user_index, ttl)
    -- Bounded retention: by age, and by count (records of trimmed ids expire on their own).
    redis.call('ZREMRANGEBYSCORE', index, '-inf', now - retention)
    local over = redis.call('ZRANGE', index, 0, -(cap + 1))
    if #over > 0 then
      redis.call('ZREMRANGEBYRANK', index, 0, #over - 1)
      for _, old in ipairs(over) do redis.call('DEL', prefix .. 'n:' .. old) end
    end
    redis.call('ZREMRANGEBYSCORE', user_index, '-inf', now - retention)
    queued = queued + 1
  end
end
return queued
