-- Writes the next batch of a big append's pending histories (see pending.lua).
-- ARGV[1] key prefix, ARGV[2] the append's id, ARGV[3] batch size, ARGV[4] history length,
-- ARGV[5] history TTL. Returns how many recipients are still pending.
local prefix, id, batch, keep, ttl = ARGV[1], ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4]), ARGV[5]
local set = prefix .. 'pending:' .. id
local users = redis.call('SPOP', set, batch)
if #users > 0 then
  local meta = redis.call('HMGET', set .. ':m', 'd', 'e', 'f')
  local older = pending_ids(prefix, id)
  for _, user in ipairs(users) do
    if #older > 0 then help(prefix, older, user, keep, ttl) end
    write_history(prefix, user, id, meta[1], meta[2], keep, ttl, meta[3])
  end
end
local left = redis.call('SCARD', set)
if left == 0 then
  redis.call('ZREM', prefix .. 'pending', id)
  redis.call('DEL', set, set .. ':m')
end
return left
