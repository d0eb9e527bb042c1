-- wrk script for scripts/load-replicas: every request carries the next opaque token of a
-- list, in turn, starting at an offset. Arguments (after `--`): the token file (one a
-- line) and the starting offset.
local tokens = {}
local next_index = 1

function init(args)
  local file = assert(io.open(args[1], "r"))
  for line in file:lines() do
    if #line > 0 then
      tokens[#tokens + 1] = "Bearer " .. line
    end
  end
  file:close()
  assert(#tokens > 0, "no tokens in " .. args[1])
  next_index = (tonumber(args[2] or "0") % #tokens) + 1
end

function request()
  local authorization = tokens[next_index]
  next_index = next_index % #tokens + 1
  return wrk.format("GET", nil, { Authorization = authorization })
end
