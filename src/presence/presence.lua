-- A user's live connections over every instance with a recent heartbeat.
-- ARGV[1] key prefix, ARGV[2] user id, ARGV[3] oldest heartbeat (ms) that still counts.
local total = 0
for _, instance in ipairs(redis.call('ZRANGEBYSCORE', ARGV[1] .. 'instances', ARGV[3], '+inf')) do
  local n = redis.call('HGET', ARGV[1] .. 'presence:' .. instance, ARGV[2])
  if n then total = total + tonumber(n) end
end
return total
