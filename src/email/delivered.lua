-- Records that fallback events reached their recipients live: no email for them.
-- KEYS[1] the partition's due set (routes the script to its node on a cluster), ARGV[1] the
-- partition's key prefix, ARGV[2..] '<id>|<user>' members of the due set, one per delivery.
-- The due entry is removed. A big topic append writes due entries batch by batch with the
-- histories (see src/broker/redis/pending.lua), so a delivery can come before its due entry
-- exists: while the user is still pending for that event, they are put in the event's set of
-- users seen live, <prefix>pending:<id>:s, and their due entry is never written.
-- Returns how many due entries were removed.
local prefix = ARGV[1]
local removed = 0
for i = 2, #ARGV do
  local member = ARGV[i]
  removed = removed + redis.call('ZREM', prefix .. 'due', member)
  local id, user = string.match(member, '^([^|]+)|(.*)$')
  if id then
    local set = prefix .. 'pending:' .. id
    -- t: a batched fallback event still being written (an older version's pending set has no
    -- t: its due entries were all written by its first script).
    local meta = redis.call('HMGET', set .. ':m', 't', 'p')
    if meta[1] then
      local pending = redis.call('SISMEMBER', set, user) == 1
      if not pending and meta[2] then
        local rank = redis.call('ZRANK', prefix .. 'r:' .. id, user)
        pending = rank ~= false and rank >= tonumber(meta[2])
          and redis.call('SISMEMBER', set .. ':h', user) == 0
      end
      if pending then
        redis.call('SADD', set .. ':s', user)
        redis.call('PEXPIRE', set .. ':s', math.max(redis.call('PTTL', set .. ':m'), 1))
      end
    end
  end
end
return removed
