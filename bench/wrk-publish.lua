-- wrk publish load, no subscribers, for both servers (written for notify-relay's bench).
--   KIND=relay KEY=<publish key> wrk -t1 -c32 -d10s -s wrk-publish.lua http://127.0.0.1:PORT
--   KIND=nchan                   wrk -t1 -c32 -d10s -s wrk-publish.lua http://127.0.0.1:PORT
-- Cycles over USERS users (default 1000); the body carries the user id and a small URL.
local kind  = os.getenv("KIND") or "relay"
local key   = os.getenv("KEY") or ""
local users = tonumber(os.getenv("USERS") or "1000")
local n = 0
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
if kind == "relay" then
  wrk.headers["Authorization"] = "Bearer " .. key
end
request = function()
  n = n + 1
  local u = n % users
  local body = '{"user_id":' .. u .. ',"img_url":"/uploads/abc.jpg"}'
  if kind == "relay" then
    return wrk.format(nil, "/publish", nil, body)
  end
  return wrk.format(nil, "/pub/u" .. u, nil, body)
end
