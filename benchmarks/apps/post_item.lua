-- wrk: POST a new item with a name no other request uses (names are unique).
-- Run with one wrk thread: the counter is per thread.
math.randomseed(os.time())
local counter = 0
local prefix = tostring(math.random(1, 1e9))

request = function()
  counter = counter + 1
  local body = '{"name":"bench ' .. prefix .. ' ' .. counter .. '"}'
  return wrk.format("POST", wrk.path, {["Content-Type"] = "application/json"}, body)
end
