-- filter.lua: replay only the requests worth replaying.
--
--   doppel --input-file requests.gor --lua examples/lua/filter.lua --output-http http://staging
--
-- Dropped: requests with a method that changes state, health checks and metrics scrapes,
-- requests marked as synthetic, and (to show m:drop()) anything over 1 MiB. A hook drops its
-- message by returning false or by calling m:drop(); returning nothing passes it on.

local SAFE = { GET = true, HEAD = true, OPTIONS = true }
local SKIP_PREFIXES = { "/health", "/metrics", "/favicon.ico" }
local MAX_BYTES = 1024 * 1024

function on_request(m)
    local method = m:method()
    if method == nil then
        return -- not an HTTP request line (raw TCP): pass it on untouched
    end
    if not SAFE[method] then
        return false
    end
    local path = m:path()
    for _, prefix in ipairs(SKIP_PREFIXES) do
        if path:sub(1, #prefix) == prefix then
            return false
        end
    end
    if m:header("X-Synthetic") ~= nil then
        return false
    end
    if #m:bytes() > MAX_BYTES then
        m:drop()
    end
end
