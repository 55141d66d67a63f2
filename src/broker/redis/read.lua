-- Reads a user's events after a cursor, with the facts needed to judge the cursor, in one trip.
-- KEYS[1] the user's history stream, KEYS[2] log stream, KEYS[3] epoch string
-- ARGV[1] cursor, ARGV[2] limit, ARGV[3] key prefix, ARGV[4] user id, ARGV[5] history length,
-- ARGV[6] history TTL
-- Returns {head, epoch or '', user history exists (0/1), newest id that may hide trimmed events,
-- events, now in ms}
local function info_fields(key)
  local info = redis.call('XINFO', 'STREAM', key)
  local fields = {}
  for i = 1, #info, 2 do fields[info[i]] = info[i + 1] end
  return fields
end
local head = '0-0'
if redis.call('EXISTS', KEYS[2]) == 1 then
  head = info_fields(KEYS[2])['last-generated-id']
end
local epoch = redis.call('GET', KEYS[3]) or ''
-- Entries of unfinished big appends belong in this history before it is read.
local pend = pending_ids(ARGV[3], nil)
if #pend > 0 then help(ARGV[3], pend, ARGV[4], tonumber(ARGV[5]), ARGV[6]) end
local exists = redis.call('EXISTS', KEYS[1])
local deleted = '0-0'
local events = {}
if exists == 1 then
  -- Trimming keeps the oldest entry as a sentinel (see append.lua): once anything was trimmed,
  -- cursors before the sentinel may have missed events; the sentinel itself saw them all.
  local info = info_fields(KEYS[1])
  if info['entries-added'] > info['length'] then
    deleted = info['recorded-first-entry-id']
  end
  -- A cursor ahead of the head is answered with a reset by the caller; it never reaches XRANGE,
  -- which refuses some of them outright ('(' of the largest id has no successor).
  if not id_after(ARGV[1], head) then
    events = redis.call('XRANGE', KEYS[1], '(' .. ARGV[1], '+', 'COUNT', ARGV[2])
  end
end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
return {head, epoch, exists, deleted, events, now}
