-- Reads a user's events after a cursor, with the facts needed to judge the cursor, in one trip.
-- KEYS[1] the user's history stream, KEYS[2] log stream, KEYS[3] epoch string
-- ARGV[1] cursor, ARGV[2] limit
-- Returns {head, epoch or '', user history exists (0/1), max deleted id, events, now in ms}
local function info_field(key, field)
  local info = redis.call('XINFO', 'STREAM', key)
  for i = 1, #info, 2 do
    if info[i] == field then return info[i + 1] end
  end
  return '0-0'
end
local head = '0-0'
if redis.call('EXISTS', KEYS[2]) == 1 then
  head = info_field(KEYS[2], 'last-generated-id')
end
local epoch = redis.call('GET', KEYS[3]) or ''
local exists = redis.call('EXISTS', KEYS[1])
local deleted = '0-0'
local events = {}
if exists == 1 then
  deleted = info_field(KEYS[1], 'max-deleted-entry-id')
  events = redis.call('XRANGE', KEYS[1], '(' .. ARGV[1], '+', 'COUNT', ARGV[2])
end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
return {head, epoch, exists, deleted, events, now}
