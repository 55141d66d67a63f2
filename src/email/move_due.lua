-- Moves due entries (recipients who did not see a fallback event within the grace period) into
-- their digests. Runs on the bridge lease holder; each entry is removed and moved in this one
-- script, so a crash cannot half-move it and no two instances can both move it.
-- ARGV[1] key prefix, ARGV[2] digest window (ms), ARGV[3] most entries, ARGV[4] digest list TTL (s)
-- Time is Redis's own, the clock the due scores were set with (the event ids' time).
-- Returns {moved, skipped without a contact or with fallback off, skipped with the event gone}
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local prefix, window, max, ttl = ARGV[1], tonumber(ARGV[2]), ARGV[3], ARGV[4]
local due = redis.call('ZRANGEBYSCORE', prefix .. 'due', '-inf', now, 'LIMIT', 0, max)
local moved, no_contact, gone = 0, 0, 0
local function event_data(key, id)
  local entries = redis.call('XRANGE', key, id, id)
  if #entries == 0 then return nil end
  local fields = entries[1][2]
  for i = 1, #fields, 2 do
    if fields[i] == 'd' then return fields[i + 1] end
  end
  return nil
end
for _, member in ipairs(due) do
  redis.call('ZREM', prefix .. 'due', member)
  local id, user = string.match(member, '^([^|]+)|(.*)$')
  local contact = redis.call('HMGET', prefix .. 'contact:' .. user, 'email', 'email_fallback')
  if not id or not contact[1] or contact[2] ~= '1' then
    no_contact = no_contact + 1
  else
    local data = event_data(prefix .. 'u:' .. user, id) or event_data(prefix .. 'log', id)
    if not data then
      gone = gone + 1
    else
      local list = prefix .. 'digest:' .. user
      redis.call('RPUSH', list, cjson.encode({id = id, data = data}))
      redis.call('EXPIRE', list, ttl)
      -- The first event of a digest sets when it is sent; later ones join it.
      redis.call('ZADD', prefix .. 'digests', 'NX', now + window, user)
      moved = moved + 1
    end
  end
end
return {moved, no_contact, gone}
