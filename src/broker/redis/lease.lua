-- The bridge lease: acquire it if free, renew it if ours. KEYS[1] lease key.
-- ARGV[1] this instance's token, ARGV[2] lease length in ms. Returns 1 if we hold it now.
local holder = redis.call('GET', KEYS[1])
if holder == false then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
if holder == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0
