-- Replaces a topic's subscriber set in one step. KEYS[1] topic set; ARGV the users.
redis.call('DEL', KEYS[1])
for i = 1, #ARGV, 1000 do
  local batch = {}
  for j = i, math.min(i + 999, #ARGV) do
    batch[#batch + 1] = 0
    batch[#batch + 1] = ARGV[j]
  end
  redis.call('ZADD', KEYS[1], unpack(batch))
end
return #ARGV
