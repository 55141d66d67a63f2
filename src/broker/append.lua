-- Appends one event to the log and to each recipient's history under the same id, atomically.
-- KEYS[1] log stream, KEYS[2] epoch string, KEYS[3] bridge lease, KEYS[4..] recipients' histories
-- ARGV[1] data (compact JSON), ARGV[2] event name or '', ARGV[3] recipients as a JSON array,
-- ARGV[4] history length per user, ARGV[5] history TTL in seconds, ARGV[6] log length,
-- ARGV[7] lease token the caller must hold, or '' for an append that needs no lease
if ARGV[7] ~= '' and redis.call('GET', KEYS[3]) ~= ARGV[7] then
  -- A bridge that lost its lease must not append: the new holder bridges the same messages.
  return redis.error_reply('NOTLEASE this instance does not hold the bridge lease')
end
local id = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[6], '*',
  'd', ARGV[1], 'e', ARGV[2], 'u', ARGV[3])
-- The first id of this store's life: cursors older than it belong to data the store lost.
redis.call('SET', KEYS[2], id, 'NX')
local keep = tonumber(ARGV[4])
for i = 4, #KEYS do
  local key = KEYS[i]
  redis.call('XADD', key, id, 'd', ARGV[1], 'e', ARGV[2])
  local len = redis.call('XLEN', key)
  if len > keep then
    -- Trim exactly and record what went, so a reader can tell a stale cursor from a fresh one.
    local gone = redis.call('XRANGE', key, '-', '+', 'COUNT', len - keep)
    redis.call('XTRIM', key, 'MAXLEN', keep)
    redis.call('XSETID', key, id, 'MAXDELETEDID', gone[#gone][1])
  end
  redis.call('EXPIRE', key, ARGV[5])
end
return id
