-- token_rewrite.lua: GoReplay's token idea, in-process. The twin of
-- examples/middleware/token_rewrite.py: same convention, same results (tests/e2e/test_lua.py).
--
--   doppel --input-raw :80 --input-raw-track-response --output-http http://staging \
--          --output-http-track-response --lua examples/lua/token_rewrite.lua
--
-- Why: a login replayed against another server gets another session token. Requests recorded
-- afterwards still carry the original token, which the replay target does not know.
--
-- How:
--   * A response hands out a token in its "X-Token: <token>" header field (letters, digits and
--     -._~+/=, at most 512 bytes). Or, with TOKEN_FROM below, from the body: "json" reads a
--     JSON object's member TOKEN_NAME ({"token": "abc"}), "plain" takes a body that is nothing
--     but the token (GoReplay's own example). The twin's --header NAME, --json FIELD and
--     --plain-body. m:body() de-chunks a chunked body; a gzip body needs --prettify-http (it
--     runs before the Lua stage; the middleware twin gunzips by itself).
--   * The original response (type 2) and the replayed response (type 3) of one request share its
--     id, in either order: their two tokens form one pair, original -> replayed. (Type 2 needs
--     --input-raw-track-response when capturing, type 3 --output-http-track-response.)
--   * Requests (type 1) carrying an original token get the replayed one instead, where tokens
--     are presented: an "Authorization: Bearer <token>" header field, and every
--     "token=<token>" query parameter (GoReplay's example). Neither change touches the body.
--   * Every message goes on; a request with an unknown token passes unchanged. A request
--     replayed before the login's replayed response came back cannot be rewritten.
-- Memory is bounded: at most 100000 pending ids and 100000 learned tokens (oldest go first).

local TOKEN_FROM = "header" -- "header", "json" or "plain"
local TOKEN_NAME = TOKEN_FROM == "json" and "token" or "X-Token" -- the field or the member
local MAX_ENTRIES = 100000

-- ---- a bounded map: put() makes a key the newest; past MAX_ENTRIES the oldest goes ----

local function lru()
    return { map = {}, stamp = {}, qkey = {}, qstamp = {}, head = 1, tail = 0, n = 0, clock = 0 }
end

local function lru_compact(t)
    local qkey, qstamp, tail = {}, {}, 0
    for i = t.head, t.tail do
        local k = t.qkey[i]
        if t.stamp[k] == t.qstamp[i] then
            tail = tail + 1
            qkey[tail], qstamp[tail] = k, t.qstamp[i]
        end
    end
    t.qkey, t.qstamp, t.head, t.tail = qkey, qstamp, 1, tail
end

local function lru_put(t, k, v)
    if t.map[k] == nil then
        t.n = t.n + 1
    end
    t.map[k] = v
    t.clock = t.clock + 1
    t.stamp[k] = t.clock
    t.tail = t.tail + 1
    t.qkey[t.tail], t.qstamp[t.tail] = k, t.clock
    while t.n > MAX_ENTRIES do
        local qk, qs = t.qkey[t.head], t.qstamp[t.head]
        t.qkey[t.head], t.qstamp[t.head] = nil, nil
        t.head = t.head + 1
        if t.stamp[qk] == qs then
            t.map[qk], t.stamp[qk] = nil, nil
            t.n = t.n - 1
        end
    end
    if t.tail - t.head + 1 > 2 * t.n + 1024 then
        lru_compact(t) -- entries of keys popped or put again
    end
end

local function lru_pop(t, k)
    local v = t.map[k]
    if v ~= nil then
        t.map[k], t.stamp[k] = nil, nil
        t.n = t.n - 1
    end
    return v
end

local original = lru() -- id -> token the original server issued (type 2)
local replayed = lru() -- id -> token the replay target issued (type 3)
local tokens = lru()   -- original token -> replayed token

-- ---- the token in a response body ----

local NOT_SPACE = "[^ \t\n\r\v\f]"

local function strip(s)
    local first = s:find(NOT_SPACE)
    if first == nil then
        return ""
    end
    local last = #s
    while not s:sub(last, last):find(NOT_SPACE) do
        last = last - 1
    end
    return s:sub(first, last)
end

local ESCAPES = { ['"'] = '"', ["\\"] = "\\", ["/"] = "/", b = "\b", f = "\f", n = "\n",
    r = "\r", t = "\t" }

-- The member <field> of the JSON object <s>, when it is a string; raises an error when <s> is
-- not valid JSON (as Python's json.loads).
local function json_member(s, field)
    local pos = 1
    local value

    local function ws()
        pos = s:find("[^ \t\n\r]", pos) or #s + 1
    end

    local function str()
        local out, i = {}, pos + 1
        while true do
            local j = s:find('[\0-\31"\\]', i)
            if j == nil then
                error("unterminated string")
            end
            out[#out + 1] = s:sub(i, j - 1)
            local c = s:sub(j, j)
            if c == '"' then
                pos = j + 1
                return table.concat(out)
            elseif c ~= "\\" then
                error("control character in a string")
            end
            local e = s:sub(j + 1, j + 1)
            if e == "u" then
                local hex = s:match("^%x%x%x%x", j + 2)
                if hex == nil then
                    error("bad \\u escape")
                end
                local cp = tonumber(hex, 16)
                i = j + 6
                if cp >= 0xD800 and cp <= 0xDBFF then
                    local low = s:match("^\\u(%x%x%x%x)", i)
                    low = low and tonumber(low, 16)
                    if low and low >= 0xDC00 and low <= 0xDFFF then
                        cp = 0x10000 + (cp - 0xD800) * 0x400 + (low - 0xDC00)
                        i = i + 6
                    end
                end
                out[#out + 1] = utf8.char(cp) -- a lone surrogate stays: checked at the end
            elseif ESCAPES[e] then
                out[#out + 1] = ESCAPES[e]
                i = j + 2
            else
                error("bad escape")
            end
        end
    end

    local function number()
        local _, e = s:find("^-?0", pos)
        if e == nil then
            _, e = s:find("^-?[1-9]%d*", pos)
        end
        if e == nil then
            return false
        end
        pos = e + 1
        _, e = s:find("^%.%d+", pos)
        if e then
            pos = e + 1
        end
        _, e = s:find("^[eE][-+]?%d+", pos)
        if e then
            pos = e + 1
        end
        return true
    end

    local LITERALS = { "true", "false", "null", "NaN", "Infinity", "-Infinity" }

    -- Parses one value at pos: strings as strings, anything else as true.
    value = function(depth, want)
        if depth > 1000 then
            error("too deep")
        end
        ws()
        local c = s:sub(pos, pos)
        if c == "{" or c == "[" then
            local close = c == "{" and "}" or "]"
            local found = nil
            pos = pos + 1
            ws()
            if s:sub(pos, pos) == close then
                pos = pos + 1
                return true
            end
            while true do
                local key
                if c == "{" then
                    ws()
                    if s:sub(pos, pos) ~= '"' then
                        error("a key expected")
                    end
                    key = str()
                    ws()
                    if s:sub(pos, pos) ~= ":" then
                        error("':' expected")
                    end
                    pos = pos + 1
                end
                local v = value(depth + 1)
                if want and key == field then
                    found = v -- the last one wins
                end
                ws()
                local sep = s:sub(pos, pos)
                pos = pos + 1
                if sep == close then
                    if want then
                        return found
                    end
                    return true
                elseif sep ~= "," then
                    error("',' expected")
                end
            end
        elseif c == '"' then
            return str()
        elseif number() then
            return true
        end
        for _, lit in ipairs(LITERALS) do
            if s:sub(pos, pos + #lit - 1) == lit then
                pos = pos + #lit
                return true
            end
        end
        error("a value expected")
    end

    local found = value(0, true)
    ws()
    if pos <= #s then
        error("extra data")
    end
    return found
end

local function is_token(s)
    return #s >= 1 and #s <= 512 and not s:find("[^A-Za-z0-9._~+/=%-]")
end

local function response_token(m)
    if TOKEN_FROM == "header" then
        local value = m:header(TOKEN_NAME)
        return value ~= nil and is_token(value) and value or nil
    end
    local body = m:body()
    if body == nil then
        return nil
    end
    body = strip(body)
    if TOKEN_FROM == "json" then
        if body:sub(1, 1) ~= "{" or utf8.len(body) == nil then
            return nil -- not a JSON object
        end
        local ok, v = pcall(json_member, body, TOKEN_NAME)
        if ok and type(v) == "string" and v ~= "" and utf8.len(v) ~= nil then
            return v
        end
        return nil
    end
    return is_token(body) and body or nil
end

local function learn(m, mine, other, is_original)
    local token = response_token(m)
    if token == nil then
        return
    end
    local id = m:id()
    local seen = lru_pop(other, id)
    if seen == nil then
        lru_put(mine, id, token)
    elseif is_original then
        lru_put(tokens, token, seen)
    else
        lru_put(tokens, seen, token)
    end
end

function on_response(m)
    learn(m, original, replayed, true)
end

function on_replay(m)
    learn(m, replayed, original, false)
end

-- ---- requests ----

-- Python's bytes.split(<sep>): every field, empty ones too.
local function split(s, sep)
    local out, start = {}, 1
    while true do
        local a, b = s:find(sep, start, true)
        if a == nil then
            out[#out + 1] = s:sub(start)
            return out
        end
        out[#out + 1] = s:sub(start, a - 1)
        start = b + 1
    end
end

-- The request <payload> with its known tokens replaced, or nil when none is: the twin's
-- rewrite_request(), line for line, so that both give the same bytes.
local function rewrite(payload)
    local e = payload:find("\r\n\r\n", 1, true)
    if e == nil then
        return nil
    end
    local lines, rest, n = split(payload:sub(1, e - 1), "\r\n"), payload:sub(e), 0
    -- the query: every token=<value>
    local parts = split(lines[1], " ")
    if #parts >= 3 and parts[2]:find("?", 1, true) then
        local path, query = parts[2]:match("^([^?]*)%?(.*)$")
        local params = split(query, "&")
        for i, p in ipairs(params) do
            local name, value = p:match("^([^=]*)=(.*)$")
            if name == "token" and tokens.map[value] ~= nil then
                params[i] = "token=" .. tokens.map[value]
                n = n + 1
            end
        end
        parts[2] = path .. "?" .. table.concat(params, "&")
        lines[1] = table.concat(parts, " ")
    end
    -- the header: Authorization: Bearer <value> (the auth-scheme is case-insensitive)
    for i = 2, #lines do
        local name, value = lines[i]:match("^([^:]*):(.*)$")
        if name ~= nil and strip(name):lower() == "authorization" then
            value = strip(value)
            local scheme, token = value:match("^([^ ]*) (.*)$")
            if scheme == nil then
                scheme, token = value, ""
            end
            local new = tokens.map[strip(token)]
            if scheme:lower() == "bearer" and new ~= nil then
                lines[i] = name .. ": " .. scheme .. " " .. new
                n = n + 1
            end
        end
    end
    if n == 0 then
        return nil
    end
    return table.concat(lines, "\r\n") .. rest
end

function on_request(m)
    if tokens.n == 0 then
        return
    end
    -- cheap first: most requests carry no token at all
    local target = m:path()
    if m:header("Authorization") == nil and (target == nil or not target:find("token=", 1, true)) then
        return
    end
    local new = rewrite(m:bytes())
    if new ~= nil then
        m:set_bytes(new)
    end
end
