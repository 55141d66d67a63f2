-- Exactly once: runs append.lua (defined above this as the function append_event) unless this
-- event was appended before, so a retry after a lost answer never stores it twice.
-- Two records can say "appended before":
-- * the bridge's sequence record: the pub/sub bridge numbers its messages; the record holds
--   '<lease token>:<number>' of the last one stored, so a batch retried after a Redis blip
--   skips the messages its first attempt stored (one small key, whatever the rate);
-- * an idempotency record '<prefix>idem:<key>' holding '<id> <recipients>' of the first append
--   ('- 0' when it stored nothing), kept for a TTL.
-- This wrapper's keys and arguments come after append.lua's and are taken off before it runs,
-- so append.lua's own numbering is untouched:
-- KEYS[n-1] the bridge's sequence record, KEYS[n] the idempotency record (any key of the slot
-- when unused); ARGV[m-2] '<lease token>:<number>' or '', ARGV[m-1] '1' when KEYS[n] is an
-- idempotency record, else '', ARGV[m] the record's TTL in seconds.
-- Returns append.lua's {id, recipients, pending} plus a fourth element: 1 when nothing was
-- stored because the event was appended before (then id and recipients are the first
-- append's, or false and 0 for a bridge repeat), else 0.
local nk, na = #KEYS, #ARGV
local seq_key, once_key = KEYS[nk - 1], KEYS[nk]
local seq, keyed, once_ttl = ARGV[na - 2], ARGV[na - 1] == '1', ARGV[na]
KEYS[nk], KEYS[nk - 1] = nil, nil
ARGV[na], ARGV[na - 1], ARGV[na - 2] = nil, nil, nil

local token, number
if seq ~= '' then
  token, number = string.match(seq, '^(.*):(%d+)$')
  number = tonumber(number)
  local last = redis.call('GET', seq_key)
  if last then
    local last_token, last_number = string.match(last, '^(.*):(%d+)$')
    if last_token == token and tonumber(last_number) >= number then
      return {false, 0, 0, 1}
    end
  end
end
if keyed then
  local first = redis.call('GET', once_key)
  if first then
    local id, count = string.match(first, '^(%S+) (%d+)$')
    if id == '-' then id = false end
    return {id, tonumber(count), 0, 1}
  end
end

local reply = append_event()
if reply.err then
  return reply
end
if seq ~= '' then
  redis.call('SET', seq_key, seq)
end
if keyed then
  redis.call('SET', once_key, (reply[1] or '-') .. ' ' .. reply[2], 'EX', once_ttl)
end
reply[4] = 0
return reply
