-- Applies one change to the notification log record `n:<id>` and, when the SQL sink is on,
-- queues a copy of the whole record in the stream `notifications:db`, in this one step: the
-- copies follow the changes in order, none missed and none half-done.
-- ARGV[1] key prefix, ARGV[2] record id, ARGV[3] now (ms), ARGV[4] '1' when the SQL sink is on,
-- ARGV[5] '' to count an attempt, else the new status; ARGV[6] a field to set with it
-- (`smtp_response` or `error_message`) and ARGV[7] its text.
-- Returns the record's attempts.
local prefix, id, now = ARGV[1], ARGV[2], ARGV[3]
local record = prefix .. 'n:' .. id
if ARGV[5] == '' then
  redis.call('HINCRBY', record, 'attempts', 1)
else
  redis.call('HSET', record, 'status', ARGV[5], ARGV[6], ARGV[7])
end
redis.call('HSET', record, 'updated_at_ms', now)
-- A record that expired from the log meanwhile has no user left: nothing to copy.
if ARGV[4] == '1' and redis.call('HEXISTS', record, 'user') == 1 then
  redis.call('XADD', prefix .. 'notifications:db', '*', unpack(redis.call('HGETALL', record)))
end
return tonumber(redis.call('HGET', record, 'attempts') or '0')
