-- set_header.lua: mark every request as replayed traffic (the benchmark's "Lua hook that sets
-- a header", bench/modify_rate.sh case c). As --http-set-header "X-Doppel-Replay: 1": the first
-- field of that name gets the value, or the field goes right after the request line.
--
--   doppel --input-file requests.gor --lua examples/lua/set_header.lua --output-http http://staging

function on_request(m)
    m:set_header("X-Doppel-Replay", "1")
end
