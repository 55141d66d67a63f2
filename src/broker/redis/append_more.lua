-- Writes the next batch of a big append's pending histories (see pending.lua), with their email
-- due entries: named users left over first, then the topic snapshot from rank p on.
-- ARGV[1] key prefix, ARGV[2] the append's id, ARGV[3] batch size, ARGV[4] history length,
-- ARGV[5] history TTL. Returns how many recipients are still pending.
local prefix, id, batch, keep, ttl = ARGV[1], ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4]), ARGV[5]
local set = prefix .. 'pending:' .. id
local meta = redis.call('HMGET', set .. ':m', 'd', 'e', 'f', 't', 'p', 'n')
local older = pending_ids(prefix, id)
local function write(user)
  if #older > 0 then help(prefix, older, user, keep, ttl) end
  write_pending(prefix, set, id, user, meta, keep, ttl)
end
local users = redis.call('SPOP', set, batch)
for _, user in ipairs(users) do write(user) end
local room = batch - #users
local p, n = tonumber(meta[5] or 0), tonumber(meta[6] or 0)
if room > 0 and p < n then
  local next = redis.call('ZRANGE', prefix .. 'r:' .. id, p, p + room - 1)
  for _, user in ipairs(next) do
    -- Users in h were written early (help): they leave h as the batches pass them.
    if redis.call('SREM', set .. ':h', user) == 0 then write(user) end
  end
  -- A short page is the snapshot's end (or, if it expired, nothing left to write from it).
  if #next < room then p = n else p = p + room end
  redis.call('HSET', set .. ':m', 'p', p)
end
local left = redis.call('SCARD', set) + math.max(n - p, 0)
if left == 0 then
  redis.call('ZREM', prefix .. 'pending', id)
  redis.call('DEL', set, set .. ':m', set .. ':h', set .. ':s')
  -- Every history is written: only the tails still read the snapshot, within seconds.
  redis.call('EXPIRE', prefix .. 'r:' .. id, snapshot_ttl(ttl))
end
return left
