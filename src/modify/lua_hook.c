#include "modify/lua_hook.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>

#include "core/log.h"
#include "http/http_head.h"
#include "modify/prettify.h"

const char *const dp_lua_ctr_names[DP_LUA_CTR_COUNT] = {
    [DP_LUA_CALLS] = "lua_calls",
    [DP_LUA_CHANGED] = "lua_changed",
    [DP_LUA_DROPPED] = "lua_dropped",
    [DP_LUA_ERRORS] = "lua_errors",
};

static const char *const hook_names[DP_MSG_TYPE_COUNT] = {
    [DP_MSG_OTHER] = NULL,
    [DP_MSG_REQUEST] = "on_request",
    [DP_MSG_RESPONSE] = "on_response",
    [DP_MSG_REPLAY] = "on_replay",
};

#define MSG_MT        "doppel.msg" /* the registry name of the message metatable */
#define ERR_LOG_FIRST 10           /* errors logged one by one, then one in ERR_LOG_EVERY */
#define ERR_LOG_EVERY 1000
#define MOVE_MAX      (1 << 24)    /* elements table.move() may copy in one call */

/* The stack of a loaded state between calls: the message handler, then the hook of each type
 * (nil when the script defines none). */
#define STACK_MSGH    1
#define STACK_HOOK(t) (1 + (t)) /* t: DP_MSG_REQUEST..DP_MSG_REPLAY */
#define STACK_TOP     STACK_HOOK(DP_MSG_REPLAY)

/*
 * The message a hook gets is a light userdata whose value is the call's number, <gen>: nothing
 * is allocated per call. Every light userdata shares one metatable, ours: the sandbox hands
 * scripts no other light userdata. A method accepts it only while it equals <live>, which is
 * <gen> during the call and 0 (no message) otherwise, so a message kept past its call is refused
 * in any later call. <gen> is odd (it steps by 2): a full userdata's block is aligned, so a value
 * that equals <live> is a light userdata, and a method checks it with one API call. (With a
 * 32-bit uintptr_t, <gen> wraps after 2^31 calls: a message kept that long would alias a later
 * call's.)
 */
struct dp_lua {
    lua_State *L;
    char *path;
    bool drop_on_error;
    bool drop;        /* m:drop() was called */
    bool mem_refused; /* the allocator refused an allocation over mem_max */
    bool over_limit;  /* the instruction limit was hit in this call */
    int hook[DP_MSG_TYPE_COUNT]; /* registry references, LUA_NOREF when not defined */
    int token_ref;               /* registry slot holding the string <token_ok> points into */
    const char *token_ok;        /* the last string found to be a token, or NULL */
    uintptr_t gen;               /* the number of the current or last call, odd */
    uintptr_t live;              /* <gen> during a call, 0 between calls */
    struct dp_msg **cur;         /* the caller's reference, during a call */
    struct dp_msg *orig;         /* from the call's first edit: the message before the call */
    size_t mem_used;
    size_t mem_max;
    uint64_t ctr[DP_LUA_CTR_COUNT];
    char last_error[256];
};

/* ---- the allocator: every byte of Lua memory is counted against mem_max ---- */

static void *lua_alloc(void *ud, void *ptr, size_t osize, size_t nsize)
{
    struct dp_lua *l = ud;
    void *p;

    if (ptr == NULL)
        osize = 0; /* <osize> is then the kind of object, not a size */
    if (nsize == 0) {
        free(ptr);
        l->mem_used -= osize;
        return NULL;
    }
    if (nsize > osize &&
            (l->mem_used >= l->mem_max || nsize - osize > l->mem_max - l->mem_used)) {
        l->mem_refused = true;
        return NULL; /* Lua collects garbage and retries once, then raises a memory error */
    }
    p = realloc(ptr, nsize);
    if (p == NULL) {
        if (nsize <= osize)
            return ptr; /* Lua assumes a shrink never fails: keep the larger block */
        return NULL;
    }
    l->mem_used = l->mem_used - osize + nsize;
    return p;
}

_Static_assert(LUA_EXTRASPACE >= sizeof(struct dp_lua *), "no room for the state's pointer");

/* The state, from the extra space of <L> (a macro: no call into Lua, unlike lua_getallocf()).
 * dp_lua_new() writes it there; a thread would start with a copy of it. */
static struct dp_lua *state_of(lua_State *L)
{
    struct dp_lua *l;

    memcpy(&l, lua_getextraspace(L), sizeof(l));
    return l;
}

static int lua_panic(lua_State *L)
{
    const char *msg = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : "?";

    dp_log(DP_LOG_ERROR, DP_LOG_MODIFY, "lua_panic msg=\"%s\"", msg);
    dp_bug(__FILE__, __LINE__, "Lua error outside a protected call");
}

/* ---- the instruction limit ---- */

static void count_hook(lua_State *L, lua_Debug *ar)
{
    struct dp_lua *l = state_of(L);

    if (!l->over_limit) {
        /* From now on every instruction raises the error again, so that a pcall in the script
         * cannot catch it and go on. */
        l->over_limit = true;
        lua_sethook(L, count_hook, LUA_MASKCOUNT, 1);
    }
    lua_getinfo(L, "Sl", ar);
    lua_pushfstring(L, "%s:%d: instruction limit (%d per call) exceeded", ar->short_src,
            ar->currentline, DP_LUA_INSTR_MAX);
    lua_error(L);
}

/* A fresh budget of DP_LUA_INSTR_MAX instructions. The hook stays set between calls, when no
 * Lua code runs (dp_lua_free() takes it off before lua_close()). */
static void limit_arm(struct dp_lua *l)
{
    l->over_limit = false;
    l->mem_refused = false;
    lua_sethook(l->L, count_hook, LUA_MASKCOUNT, DP_LUA_INSTR_MAX);
}

static void limit_disarm(struct dp_lua *l)
{
    lua_sethook(l->L, NULL, 0, 0);
}

/* The message handler of every protected call: the error as one string. */
static int msgh(lua_State *L)
{
    int t = lua_type(L, 1);

    if (t == LUA_TSTRING || t == LUA_TNUMBER)
        return 1;
    if (luaL_callmeta(L, 1, "__tostring") && lua_type(L, -1) == LUA_TSTRING)
        return 1;
    luaL_where(L, 2); /* level 1 is error(), level 2 the Lua function that called it */
    lua_pushfstring(L, "(error object is a %s value)", luaL_typename(L, 1));
    lua_concat(L, 2);
    return 1;
}

/* ---- the sandbox ---- */

/* load() with text chunks only: bytecode can break the VM's memory safety. */
static int sb_load(lua_State *L)
{
    if (lua_gettop(L) < 3)
        lua_settop(L, 3);
    lua_pushliteral(L, "t");
    lua_replace(L, 3);
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_insert(L, 1);
    lua_call(L, lua_gettop(L) - 1, LUA_MULTRET);
    return lua_gettop(L);
}

/* setmetatable() without __gc: finalizers run with hooks off, where the instruction limit
 * could not stop them. */
static int sb_setmetatable(lua_State *L)
{
    if (lua_type(L, 2) == LUA_TTABLE) {
        lua_pushliteral(L, "__gc");
        if (lua_rawget(L, 2) != LUA_TNIL)
            return luaL_error(L, "__gc metamethods are not allowed in doppel's Lua sandbox");
        lua_pop(L, 1);
    }
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_insert(L, 1);
    lua_call(L, lua_gettop(L) - 1, 1);
    return 1;
}

/* print(): one log line on stderr (stdout may be --output-stdout). */
static int sb_print(lua_State *L)
{
    int n = lua_gettop(L);
    luaL_Buffer b;
    const char *s;
    size_t len;
    char esc[900];

    luaL_buffinit(L, &b);
    for (int i = 1; i <= n; i++) {
        if (i > 1)
            luaL_addchar(&b, '\t');
        (void)luaL_tolstring(L, i, NULL);
        luaL_addvalue(&b);
    }
    luaL_pushresult(&b);
    s = lua_tolstring(L, -1, &len);
    dp_log(DP_LOG_WARN, DP_LOG_MODIFY, "lua_print=\"%s\"",
            dp_log_escape(esc, sizeof(esc), (const uint8_t *)s, len));
    return 0;
}

/* table.move() over a bounded range: it loops in C, out of the instruction limit's reach. */
static int sb_table_move(lua_State *L)
{
    lua_Integer f = luaL_checkinteger(L, 2);
    lua_Integer e = luaL_checkinteger(L, 3);

    if (e >= f && (f < 0 ? e > f + MOVE_MAX : e - f > MOVE_MAX))
        return luaL_error(L, "table.move: more than %d elements", MOVE_MAX);
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_insert(L, 1);
    lua_call(L, lua_gettop(L) - 1, 1);
    return 1;
}

/* Replaces field <name> of the table at <idx> with a closure of <fn> over the old value. */
static void wrap(lua_State *L, int idx, const char *name, lua_CFunction fn)
{
    idx = lua_absindex(L, idx);
    lua_getfield(L, idx, name);
    lua_pushcclosure(L, fn, 1);
    lua_setfield(L, idx, name);
}

static int sandbox_open(lua_State *L)
{
    static const luaL_Reg libs[] = {
        { LUA_GNAME, luaopen_base },        { LUA_STRLIBNAME, luaopen_string },
        { LUA_TABLIBNAME, luaopen_table },  { LUA_MATHLIBNAME, luaopen_math },
        { LUA_UTF8LIBNAME, luaopen_utf8 },  { LUA_OSLIBNAME, luaopen_os },
    };
    static const char *const os_keep[] = { "time", "clock", "date" };

    for (size_t i = 0; i < DP_ARRAY_LEN(libs); i++) {
        luaL_requiref(L, libs[i].name, libs[i].func, 1);
        lua_pop(L, 1);
    }
    lua_pushglobaltable(L);
    lua_pushnil(L);
    lua_setfield(L, -2, "dofile");
    lua_pushnil(L);
    lua_setfield(L, -2, "loadfile");
    wrap(L, -1, "load", sb_load);
    wrap(L, -1, "setmetatable", sb_setmetatable);
    lua_pushcfunction(L, sb_print);
    lua_setfield(L, -2, "print");
    lua_getfield(L, -1, LUA_TABLIBNAME);
    wrap(L, -1, "move", sb_table_move);
    lua_pop(L, 1);
    /* os: time, clock and date only (no execute, exit, getenv, remove, rename, tmpname) */
    lua_getfield(L, -1, LUA_OSLIBNAME);
    lua_createtable(L, 0, (int)DP_ARRAY_LEN(os_keep));
    for (size_t i = 0; i < DP_ARRAY_LEN(os_keep); i++) {
        lua_getfield(L, -2, os_keep[i]);
        lua_setfield(L, -2, os_keep[i]);
    }
    lua_setfield(L, -3, LUA_OSLIBNAME);
    lua_pop(L, 1);
    lua_getfield(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE); /* the full os table goes for good */
    lua_getfield(L, -2, LUA_OSLIBNAME);
    lua_setfield(L, -2, LUA_OSLIBNAME);
    lua_pop(L, 2);
    return 0;
}

/* ---- the message ---- */

/* luaL_checklstring() (a number is converted in place), without its extra call. */
static const char *check_str(lua_State *L, int arg, size_t *len)
{
    const char *s = lua_tolstring(L, arg, len);

    if (s == NULL)
        luaL_typeerror(L, arg, lua_typename(L, LUA_TSTRING));
    return s;
}

/* The state, when argument 1 is the running call's message; else a Lua error. */
static struct dp_lua *check_msg(lua_State *L)
{
    struct dp_lua *l = state_of(L);
    uintptr_t v = (uintptr_t)lua_touserdata(L, 1);

    /* During a call <live> is odd: argument 1 equal to it is a light userdata (see struct
     * dp_lua). Between calls <live> is 0, which is what lua_touserdata() gives a non-userdata. */
    if (v == l->live && v != 0)
        return l;
    if (lua_type(L, 1) != LUA_TLIGHTUSERDATA)
        luaL_typeerror(L, 1, MSG_MT);
    luaL_error(L, "message used after its hook returned (m is valid during the call only)");
    return l;
}

static struct dp_msg *cur_msg(lua_State *L)
{
    return *check_msg(L)->cur;
}

/* The caller's reference, for an edit. The first edit of a call keeps the message as it was
 * (one more reference to it), so that an error can put it back; that reference also makes the
 * edit copy the message (dp_msg_splice()) instead of changing it in place. */
static struct dp_msg **edit_msg(struct dp_lua *l)
{
    if (l->orig == NULL)
        l->orig = dp_msg_ref(*l->cur);
    return l->cur;
}

static bool is_ows(uint8_t c)
{
    return c == ' ' || c == '\t';
}

/* "METHOD SP target SP HTTP/x.y" at the start of a request (leading empty lines skipped). */
struct reqline {
    size_t start;
    size_t method_len;
    size_t target_off;
    size_t target_len;
};

static bool reqline_parse(const struct dp_msg *m, const uint8_t *p, struct reqline *rl)
{
    size_t end;
    size_t s = 0;
    const uint8_t *sp1;
    const uint8_t *sp2;

    if (m->type != DP_MSG_REQUEST)
        return false;
    end = http_head_start_end(p, m->len);
    if (end == 0)
        return false;
    while (p[s] == '\r' || p[s] == '\n')
        s++;
    sp1 = memchr(p + s, ' ', end - s);
    if (sp1 == NULL || sp1 == p + s)
        return false;
    sp2 = memchr(sp1 + 1, ' ', (size_t)(p + end - (sp1 + 1)));
    if (sp2 == NULL || sp2 == sp1 + 1 || (size_t)(p + end - (sp2 + 1)) < 5 ||
            memcmp(sp2 + 1, "HTTP/", 5) != 0)
        return false;
    rl->start = s;
    rl->method_len = (size_t)(sp1 - (p + s));
    rl->target_off = (size_t)(sp1 + 1 - p);
    rl->target_len = (size_t)(sp2 - (sp1 + 1));
    return true;
}

/* The request line of the current message, or a Lua error naming <what>. */
static struct dp_msg *need_request(lua_State *L, const char *what, struct reqline *rl)
{
    struct dp_msg *m = cur_msg(L);

    if (!reqline_parse(m, dp_msg_payload(m), rl))
        luaL_error(L, "%s: not a request with a request line", what);
    return m;
}

/* "HTTP/x.y SP 3DIGIT" at the start of a response: the status, or -1. */
static int status_code(const struct dp_msg *m, const uint8_t *p)
{
    size_t end = http_head_start_end(p, m->len);
    size_t s = 0;
    const uint8_t *sp;
    const uint8_t *d;

    if (end == 0)
        return -1;
    while (p[s] == '\r' || p[s] == '\n')
        s++;
    if (end - s < 5 || memcmp(p + s, "HTTP/", 5) != 0)
        return -1;
    sp = memchr(p + s, ' ', end - s);
    if (sp == NULL || (size_t)(p + end - (sp + 1)) < 4)
        return -1;
    d = sp + 1;
    for (int i = 0; i < 3; i++) {
        if (d[i] < '0' || d[i] > '9')
            return -1;
    }
    if (d[3] != ' ' && d[3] != '\r' && d[3] != '\n')
        return -1;
    return (d[0] - '0') * 100 + (d[1] - '0') * 10 + (d[2] - '0');
}

/* GoReplay's PathParam: the value after the first "&name=", else the first "?name=", up to
 * the next '&'. False when neither is in the target. */
static bool param_find(const uint8_t *t, size_t tn, const char *name, size_t nn, size_t *vs,
        size_t *ve)
{
    for (int pass = 0; pass < 2; pass++) {
        uint8_t c = pass == 0 ? '&' : '?';

        for (size_t i = 0; nn + 2 <= tn && i <= tn - nn - 2; i++) {
            if (t[i] == c && memcmp(t + i + 1, name, nn) == 0 && t[i + 1 + nn] == '=') {
                const uint8_t *amp;

                *vs = i + nn + 2;
                amp = memchr(t + *vs, '&', tn - *vs);
                *ve = amp != NULL ? (size_t)(amp - t) : tn;
                return true;
            }
        }
    }
    return false;
}

/* check_bytes() past its first pass. */
static void check_bytes_slow(lua_State *L, int arg, const char *s, size_t n, const char *bad,
        const char *what)
{
    if (n <= 64) {
        for (size_t i = 0; i < n; i++) {
            if ((uint8_t)s[i] <= ' ' && s[i] != '\0' && strchr(bad, s[i]) != NULL)
                luaL_argerror(L, arg, what);
        }
        return;
    }
    for (const char *b = bad; *b != '\0'; b++) {
        if (memchr(s, *b, n) != NULL)
            luaL_argerror(L, arg, what);
    }
}

/* Raises an error when <s, n> holds one of the bytes of <bad> (it would break a line). All of
 * them are controls or SP: a short string with no byte up to SP, the usual case, is passed in
 * one inline pass. */
static inline void check_bytes(lua_State *L, int arg, const char *s, size_t n, const char *bad,
        const char *what)
{
    size_t i = 0;

    if (n <= 64) {
        while (i < n && (uint8_t)s[i] > ' ')
            i++;
        if (i == n)
            return;
    }
    check_bytes_slow(L, arg, s, n, bad, what);
}

/* Raises an error naming <what> unless argument <arg>, <s, n>, is a token (RFC 9110 5.6.2). The
 * last string found valid stays referenced from the registry, so its address names it: a hook
 * that passes the same string call after call (a constant) has it checked once. */
static void check_token(lua_State *L, struct dp_lua *l, int arg, const char *s, size_t n,
        const char *what)
{
    if (s == l->token_ok)
        return;
    luaL_argcheck(L, http_is_token(s, n), arg, what);
    lua_pushvalue(L, arg);
    lua_rawseti(L, LUA_REGISTRYINDEX, l->token_ref);
    l->token_ok = s;
}

/* An edit failed: raise the error (the hook's edits are then undone by dp_lua_apply). */
static int edit_fail(lua_State *L, const char *what, int rc)
{
    if (rc == -ENOMEM)
        return luaL_error(L, "%s: out of memory", what);
    if (rc == -EINVAL)
        return luaL_error(L, "%s: the payload has no HTTP start line", what);
    return luaL_error(L, "%s: %s", what, strerror(-rc));
}

/* The last transfer coding of Transfer-Encoding is "chunked" (RFC 9112 §6.1, §7.1). */
static bool is_chunked(const uint8_t *p, size_t len)
{
    struct http_field f;
    size_t s;
    size_t e;

    if (!http_head_find(p, len, "Transfer-Encoding", 17, &f))
        return false;
    s = f.value_off;
    e = f.value_off + f.value_len;
    for (size_t i = s; i < e; i++) {
        if (p[i] == ',')
            s = i + 1;
    }
    while (s < e && is_ows(p[s]))
        s++;
    if (e - s != 7)
        return false;
    for (size_t i = 0; i < 7; i++) {
        if ((p[s + i] | 0x20) != (uint8_t)"chunked"[i])
            return false;
    }
    return true;
}

static int m_type(lua_State *L)
{
    lua_pushinteger(L, cur_msg(L)->type);
    return 1;
}

static int m_id(lua_State *L)
{
    struct dp_bytes id = dp_msg_id(cur_msg(L));

    lua_pushlstring(L, (const char *)id.ptr, id.len);
    return 1;
}

static int m_ts(lua_State *L)
{
    lua_pushinteger(L, cur_msg(L)->ts_ns);
    return 1;
}

static int m_latency(lua_State *L)
{
    lua_pushinteger(L, cur_msg(L)->latency_ns);
    return 1;
}

static int m_method(lua_State *L)
{
    struct dp_msg *m = cur_msg(L);
    const uint8_t *p = dp_msg_payload(m);
    struct reqline rl;

    if (!reqline_parse(m, p, &rl))
        return 0;
    lua_pushlstring(L, (const char *)p + rl.start, rl.method_len);
    return 1;
}

static int m_path(lua_State *L)
{
    struct dp_msg *m = cur_msg(L);
    const uint8_t *p = dp_msg_payload(m);
    struct reqline rl;

    if (!reqline_parse(m, p, &rl))
        return 0;
    lua_pushlstring(L, (const char *)p + rl.target_off, rl.target_len);
    return 1;
}

static int m_param(lua_State *L)
{
    struct dp_msg *m = cur_msg(L);
    size_t nn;
    const char *name = check_str(L, 2, &nn);
    const uint8_t *p = dp_msg_payload(m);
    struct reqline rl;
    size_t vs;
    size_t ve;

    if (!reqline_parse(m, p, &rl) ||
            !param_find(p + rl.target_off, rl.target_len, name, nn, &vs, &ve))
        return 0;
    lua_pushlstring(L, (const char *)p + rl.target_off + vs, ve - vs);
    return 1;
}

static int m_set_method(lua_State *L)
{
    struct reqline rl;
    struct dp_lua *l = check_msg(L);
    size_t n;
    const char *s = check_str(L, 2, &n);
    struct dp_msg *m = need_request(L, "set_method", &rl);
    const char *target;
    int rc;

    check_token(L, l, 2, s, n, "not a token (a method, RFC 9110 9.1)");
    /* the target is copied out of the message first: the splice may move it */
    lua_pushlstring(L, (const char *)dp_msg_payload(m) + rl.target_off, rl.target_len);
    target = lua_tostring(L, -1);
    rc = http_head_set_target(edit_msg(l), s, n, target, rl.target_len);
    if (rc != 0)
        return edit_fail(L, "set_method", rc);
    return 0;
}

static int m_set_path(lua_State *L)
{
    struct reqline rl;
    struct dp_lua *l = check_msg(L);
    size_t n;
    const char *s = check_str(L, 2, &n);
    int rc;

    (void)need_request(L, "set_path", &rl);
    luaL_argcheck(L, n > 0, 2, "empty request-target");
    check_bytes(L, 2, s, n, " \t\r\n", "SP, HTAB, CR or LF in a request-target");
    rc = http_head_set_target(edit_msg(l), NULL, 0, s, n);
    if (rc != 0)
        return edit_fail(L, "set_path", rc);
    return 0;
}

/* GoReplay's SetPathParam: replace the value of the first "&name=" (else "?name="), or append
 * "?name=value" ("&name=value" when the target has a '?'). */
static int m_set_param(lua_State *L)
{
    struct reqline rl;
    struct dp_lua *l = check_msg(L);
    size_t nn;
    size_t vn;
    const char *name = check_str(L, 2, &nn);
    const char *value = check_str(L, 3, &vn);
    struct dp_msg *m = need_request(L, "set_param", &rl);
    const uint8_t *t = dp_msg_payload(m) + rl.target_off;
    size_t tn = rl.target_len;
    size_t vs;
    size_t ve;
    luaL_Buffer b;
    const char *nt;
    size_t ntn;
    int rc;

    luaL_argcheck(L, nn > 0, 2, "empty parameter name");
    check_bytes(L, 2, name, nn, " \t\r\n", "SP, HTAB, CR or LF in a parameter name");
    check_bytes(L, 3, value, vn, " \t\r\n", "SP, HTAB, CR or LF in a parameter value");
    luaL_buffinit(L, &b);
    if (param_find(t, tn, name, nn, &vs, &ve)) {
        luaL_addlstring(&b, (const char *)t, vs);
        luaL_addlstring(&b, value, vn);
        luaL_addlstring(&b, (const char *)t + ve, tn - ve);
    } else {
        luaL_addlstring(&b, (const char *)t, tn);
        luaL_addchar(&b, memchr(t, '?', tn) != NULL ? '&' : '?');
        luaL_addlstring(&b, name, nn);
        luaL_addchar(&b, '=');
        luaL_addlstring(&b, value, vn);
    }
    luaL_pushresult(&b);
    nt = lua_tolstring(L, -1, &ntn);
    rc = http_head_set_target(edit_msg(l), NULL, 0, nt, ntn);
    if (rc != 0)
        return edit_fail(L, "set_param", rc);
    return 0;
}

static int m_status(lua_State *L)
{
    struct dp_msg *m = cur_msg(L);
    int code;

    if (m->type != DP_MSG_RESPONSE && m->type != DP_MSG_REPLAY)
        return 0;
    code = status_code(m, dp_msg_payload(m));
    if (code < 0)
        return 0;
    lua_pushinteger(L, code);
    return 1;
}

static int m_header(lua_State *L)
{
    struct dp_msg *m = cur_msg(L);
    size_t nn;
    const char *name = check_str(L, 2, &nn);
    const uint8_t *p = dp_msg_payload(m);
    struct http_field f;

    if (!http_head_find(p, m->len, name, nn, &f))
        return 0;
    lua_pushlstring(L, (const char *)p + f.value_off, f.value_len);
    return 1;
}

static int m_set_header(lua_State *L)
{
    struct dp_lua *l = check_msg(L);
    size_t nn;
    size_t vn;
    const char *name = check_str(L, 2, &nn);
    const char *value = check_str(L, 3, &vn);
    int rc;

    check_token(L, l, 2, name, nn, "not a token (a field name, RFC 9110 5.1)");
    check_bytes(L, 3, value, vn, "\r\n", "CR or LF in a field value");
    rc = http_head_set(edit_msg(l), name, nn, value, vn);
    if (rc != 0)
        return edit_fail(L, "set_header", rc);
    return 0;
}

static int m_remove_header(lua_State *L)
{
    struct dp_lua *l = check_msg(L);
    size_t nn;
    const char *name = check_str(L, 2, &nn);
    int rc = http_head_remove(edit_msg(l), name, nn);

    if (rc < 0)
        return edit_fail(L, "remove_header", rc);
    lua_pushinteger(L, rc);
    return 1;
}

/* The body after the head; a chunked body de-chunked (trailers dropped), or as it is when it
 * is not valid chunked. nil when the head does not end within the payload. */
static int m_body(lua_State *L)
{
    struct dp_msg *m = cur_msg(L);
    const uint8_t *p = dp_msg_payload(m);
    size_t h = http_head_len(p, m->len);
    size_t n;

    if (h == 0)
        return 0;
    n = m->len - h;
    if (is_chunked(p, h)) {
        luaL_Buffer b;
        char *out = luaL_buffinitsize(L, &b, n);
        ssize_t r = dp_dechunk(p + h, n, (uint8_t *)out, n);
        if (r >= 0) {
            luaL_pushresultsize(&b, (size_t)r);
            return 1;
        }
        luaL_pushresultsize(&b, 0);
        lua_pop(L, 1);
    }
    lua_pushlstring(L, (const char *)p + h, n);
    return 1;
}

/* Replaces the body. Content-Length is set when the message had one, was chunked (then
 * Transfer-Encoding goes), or had no framing and gets a non-empty body. */
static int m_set_body(lua_State *L)
{
    struct dp_lua *l = check_msg(L);
    size_t n;
    const char *s = check_str(L, 2, &n);
    struct dp_msg **mp = edit_msg(l);
    const uint8_t *p = dp_msg_payload(*mp);
    size_t h = http_head_len(p, (*mp)->len);
    struct http_field f;
    bool chunked;
    bool has_cl;
    char cl[24];
    int cl_len;
    int rc;

    if (h == 0)
        return luaL_error(L, "set_body: the payload has no whole HTTP head (m:set_bytes() "
                             "replaces raw bytes)");
    chunked = is_chunked(p, h);
    has_cl = http_head_find(p, h, "Content-Length", 14, &f);
    rc = dp_msg_splice(mp, h, (*mp)->len - h, (const uint8_t *)s, n);
    if (rc == 0 && chunked) {
        rc = http_head_remove(mp, "Transfer-Encoding", 17);
        rc = rc < 0 ? rc : 0;
    }
    if (rc == 0 && (chunked || has_cl || n > 0)) {
        cl_len = snprintf(cl, sizeof(cl), "%zu", n);
        rc = http_head_set(mp, "Content-Length", 14, cl, (size_t)cl_len);
    }
    if (rc != 0)
        return edit_fail(L, "set_body", rc);
    return 0;
}

static int m_bytes(lua_State *L)
{
    struct dp_msg *m = cur_msg(L);

    lua_pushlstring(L, (const char *)dp_msg_payload(m), m->len);
    return 1;
}

static int m_set_bytes(lua_State *L)
{
    struct dp_lua *l = check_msg(L);
    size_t n;
    const char *s = check_str(L, 2, &n);
    struct dp_msg **mp = edit_msg(l);
    int rc = dp_msg_splice(mp, 0, (*mp)->len, (const uint8_t *)s, n);

    if (rc != 0)
        return edit_fail(L, "set_bytes", rc);
    return 0;
}

static int m_drop(lua_State *L)
{
    check_msg(L)->drop = true;
    return 0;
}

static int m_tostring(lua_State *L)
{
    struct dp_lua *l = state_of(L);

    luaL_checktype(L, 1, LUA_TLIGHTUSERDATA);
    if ((uintptr_t)lua_touserdata(L, 1) != l->live) {
        lua_pushliteral(L, "doppel.msg (expired)");
    } else {
        struct dp_msg *m = *l->cur;
        struct dp_bytes id = dp_msg_id(m);

        lua_pushfstring(L, "doppel.msg (type %d, id ", (int)m->type);
        lua_pushlstring(L, (const char *)id.ptr, id.len);
        lua_pushfstring(L, ", %I bytes)", (lua_Integer)m->len);
        lua_concat(L, 3);
    }
    return 1;
}

static const luaL_Reg msg_methods[] = {
    { "type", m_type },
    { "id", m_id },
    { "ts", m_ts },
    { "latency", m_latency },
    { "method", m_method },
    { "set_method", m_set_method },
    { "path", m_path },
    { "set_path", m_set_path },
    { "param", m_param },
    { "set_param", m_set_param },
    { "status", m_status },
    { "header", m_header },
    { "set_header", m_set_header },
    { "remove_header", m_remove_header },
    { "body", m_body },
    { "set_body", m_set_body },
    { "bytes", m_bytes },
    { "set_bytes", m_set_bytes },
    { "drop", m_drop },
    { NULL, NULL },
};

/* ---- loading the script ---- */

/* Protected: the sandbox, the message metatable (that of every light userdata) and the token
 * slot. Argument: the struct dp_lua, a light userdata. */
static int setup(lua_State *L)
{
    struct dp_lua *l = lua_touserdata(L, 1);

    sandbox_open(L);
    lua_pushboolean(L, 0);
    l->token_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    luaL_newmetatable(L, MSG_MT);
    lua_createtable(L, 0, (int)DP_ARRAY_LEN(msg_methods) - 1);
    luaL_setfuncs(L, msg_methods, 0);
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, m_tostring);
    lua_setfield(L, -2, "__tostring");
    lua_pushliteral(L, "doppel.msg");
    lua_setfield(L, -2, "__metatable"); /* getmetatable(m) cannot reach the methods table */
    lua_setmetatable(L, 1);
    return 0;
}

/* Protected: finds the hooks among the globals (raw reads: _G may have metamethods by now). */
static int find_hooks(lua_State *L)
{
    struct dp_lua *l = lua_touserdata(L, 1);
    bool any = false;

    for (int t = DP_MSG_REQUEST; t <= DP_MSG_REPLAY; t++) {
        int kind;

        lua_pushglobaltable(L);
        lua_pushstring(L, hook_names[t]);
        kind = lua_rawget(L, -2);
        if (kind == LUA_TFUNCTION) {
            l->hook[t] = luaL_ref(L, LUA_REGISTRYINDEX);
            any = true;
        } else if (kind != LUA_TNIL) {
            return luaL_error(L, "%s: %s is a %s, not a function", l->path, hook_names[t],
                    lua_typename(L, kind));
        } else {
            lua_pop(L, 1);
        }
        lua_pop(L, 1);
    }
    if (!any)
        return luaL_error(L, "%s: defines none of on_request, on_response, on_replay", l->path);
    return 0;
}

/* Runs <fn>(<l> as a light userdata), or the loaded chunk on top of the stack when <fn> is
 * NULL, under the message handler and the instruction limit. The error, if any, is left on
 * the stack. */
static int run(struct dp_lua *l, lua_CFunction fn)
{
    lua_State *L = l->L;
    int base;
    int status;

    if (fn != NULL) {
        lua_pushcfunction(L, fn);
        lua_pushlightuserdata(L, l);
    } else {
        lua_pushnil(L); /* the chunk ignores its argument */
    }
    base = lua_gettop(L) - 1; /* the function's slot */
    lua_pushcfunction(L, msgh);
    lua_insert(L, base);
    limit_arm(l);
    status = lua_pcall(L, 1, 0, base);
    limit_disarm(l);
    lua_remove(L, base);
    return status;
}

/* The error on top of the stack (or the memory limit) into l->last_error. */
static void error_text(struct dp_lua *l, int status, const char *where)
{
    lua_State *L = l->L;

    if (status == LUA_ERRMEM) {
        if (l->mem_refused)
            snprintf(l->last_error, sizeof(l->last_error), "%s: %s: memory limit (%zu MiB) "
                    "exceeded", l->path, where, l->mem_max >> 20);
        else
            snprintf(l->last_error, sizeof(l->last_error), "%s: %s: out of memory", l->path,
                    where);
    } else if (lua_type(L, -1) == LUA_TSTRING) {
        snprintf(l->last_error, sizeof(l->last_error), "%s", lua_tostring(L, -1));
    } else {
        snprintf(l->last_error, sizeof(l->last_error), "%s: %s: error object is not a string",
                l->path, where);
    }
}

int dp_lua_new(const char *path, bool drop_on_error, struct dp_lua **out, struct dp_err *err)
{
    struct dp_lua *l;
    struct stat st;
    int fd;
    int status;
    int rc;

    *out = NULL;
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd == -1)
        return dp_err_set(err, -errno, "--lua %s: %s", path, strerror(errno));
    rc = fstat(fd, &st) == -1 ? -errno : S_ISDIR(st.st_mode) ? -EISDIR : 0;
    close(fd);
    if (rc != 0)
        return dp_err_set(err, rc, "--lua %s: %s", path, strerror(-rc));
    l = calloc(1, sizeof(*l));
    if (l == NULL)
        return dp_err_set(err, -ENOMEM, "out of memory");
    l->drop_on_error = drop_on_error;
    l->mem_max = DP_LUA_MEM_MAX;
    l->token_ref = LUA_NOREF;
    for (int t = 0; t < DP_MSG_TYPE_COUNT; t++)
        l->hook[t] = LUA_NOREF;
    l->gen = 1;
    l->path = strdup(path);
    if (l->path != NULL)
        l->L = lua_newstate(lua_alloc, l);
    if (l->L == NULL) {
        rc = dp_err_set(err, -ENOMEM, "out of memory");
        goto fail;
    }
    memcpy(lua_getextraspace(l->L), &l, sizeof(l));
    lua_atpanic(l->L, lua_panic);
    status = run(l, setup);
    if (status != LUA_OK) {
        error_text(l, status, "setup");
        rc = dp_err_set(err, -ENOMEM, "%s", l->last_error);
        goto fail;
    }
    status = luaL_loadfilex(l->L, path, "t");
    if (status == LUA_OK)
        status = run(l, NULL);
    if (status == LUA_OK)
        status = run(l, find_hooks);
    if (status != LUA_OK) {
        error_text(l, status, "top level");
        rc = dp_err_set(err, status == LUA_ERRFILE ? -EIO : -EINVAL, "%s", l->last_error);
        goto fail;
    }
    /* The stack between calls (no push below can fail: LUA_MINSTACK slots are free) */
    lua_settop(l->L, 0);
    lua_pushcfunction(l->L, msgh);
    for (int t = DP_MSG_REQUEST; t <= DP_MSG_REPLAY; t++) {
        if (l->hook[t] != LUA_NOREF)
            lua_rawgeti(l->L, LUA_REGISTRYINDEX, l->hook[t]);
        else
            lua_pushnil(l->L);
    }
    l->last_error[0] = '\0';
    *out = l;
    return 0;
fail:
    dp_lua_free(l);
    return rc;
}

void dp_lua_free(struct dp_lua *l)
{
    if (l == NULL)
        return;
    if (l->L != NULL) {
        lua_sethook(l->L, NULL, 0, 0);
        lua_close(l->L);
    }
    free(l->path);
    free(l);
}

const uint64_t *dp_lua_ctr(const struct dp_lua *l)
{
    return l->ctr;
}

const char *dp_lua_last_error(const struct dp_lua *l)
{
    return l->last_error;
}

/* ---- calling a hook ---- */

static void log_error(struct dp_lua *l, const char *hook, const struct dp_msg *m)
{
    uint64_t n = l->ctr[DP_LUA_ERRORS];
    char esc[512];
    char id[64];
    struct dp_bytes mid = dp_msg_id(m);

    if (n > ERR_LOG_FIRST && n % ERR_LOG_EVERY != 0)
        return;
    dp_log(DP_LOG_WARN, DP_LOG_MODIFY, "lua_error hook=%s id=%s errors=%" PRIu64 "%s msg=\"%s\"",
            hook, dp_log_escape(id, sizeof(id), mid.ptr, mid.len), n,
            n >= ERR_LOG_FIRST ? " logged=1/1000" : "",
            dp_log_escape(esc, sizeof(esc), (const uint8_t *)l->last_error,
                    strlen(l->last_error)));
}

bool dp_lua_apply(struct dp_lua *l, struct dp_msg **mp)
{
    struct dp_msg *orig = *mp;
    struct dp_msg *kept;
    lua_State *L = l->L;
    int status;
    bool pass;
    bool keep;

    if (orig->type < DP_MSG_REQUEST || orig->type > DP_MSG_REPLAY ||
            l->hook[orig->type] == LUA_NOREF)
        return true;
    l->ctr[DP_LUA_CALLS]++;
    l->cur = mp;
    l->orig = NULL;
    l->drop = false;
    l->gen += 2; /* odd, so never 0 */
    l->live = l->gen;
    /* Neither push can raise an error: no allocation, and LUA_MINSTACK slots are free. */
    lua_pushvalue(L, STACK_HOOK(orig->type));
    lua_pushlightuserdata(L, (void *)l->gen);
    limit_arm(l);
    status = lua_pcall(L, 1, 1, STACK_MSGH);
    l->live = 0;
    if (status == LUA_OK) {
        pass = !l->drop && !(lua_type(L, -1) == LUA_TBOOLEAN && !lua_toboolean(L, -1));
        keep = pass;
    } else {
        error_text(l, status, hook_names[orig->type]);
        l->ctr[DP_LUA_ERRORS]++;
        log_error(l, hook_names[orig->type], orig);
        pass = !l->drop_on_error;
        keep = false;
    }
    lua_settop(L, STACK_TOP);
    l->cur = NULL;
    kept = l->orig; /* NULL: nothing was edited, *mp is <orig> */
    l->orig = NULL;
    if (kept != NULL) {
        if (*mp == kept) {
            dp_msg_unref(kept); /* an edit that failed or changed nothing */
        } else if (keep) {
            l->ctr[DP_LUA_CHANGED]++;
            dp_msg_unref(kept);
        } else {
            dp_msg_unref(*mp); /* the edited copy */
            *mp = kept;        /* our reference becomes the caller's again */
        }
    }
    if (!pass)
        l->ctr[DP_LUA_DROPPED]++;
    return pass;
}
