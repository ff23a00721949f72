/*
 * lua_hook.h: --lua script.lua: hooks in an embedded, sandboxed Lua 5.4, called on the loop for
 * each message (ours: GoReplay has nothing in-process). docs/lua.md is the user's manual.
 *
 *   middleware -> modifiers -> prettify -> [ Lua: on_request / on_response / on_replay ] -> outputs
 *
 * The script's top level runs once, at start; it defines any of on_request(m) (type 1),
 * on_response(m) (type 2) and on_replay(m) (type 3). Each hook gets the message as a userdata
 * valid during that call only, reads and edits it through methods (m:header(), m:set_path()...),
 * and drops it with m:drop() or by returning false. Globals persist across calls.
 *
 * Bounds, per state: DP_LUA_MEM_MAX bytes of Lua memory (an allocation past it fails, which is a
 * Lua error), DP_LUA_INSTR_MAX VM instructions per call (the top level, then each hook call).
 * Only safe libraries are open (no io, no os.execute, no require, text chunks only).
 *
 * Edits go through dp_msg_splice() and http_head_*(): other holders of the message keep the
 * original bytes. A hook that fails after editing leaves the message as it was before the call.
 * Not re-entrant; one loop thread.
 */
#ifndef DP_MODIFY_LUA_HOOK_H
#define DP_MODIFY_LUA_HOOK_H

#include <stdbool.h>
#include <stdint.h>

#include "core/err.h"
#include "core/msg.h"

#define DP_LUA_MEM_MAX   (256u << 20)  /* bytes of Lua memory per state */
#define DP_LUA_INSTR_MAX 100000000     /* VM instructions per call */

enum dp_lua_ctr {
    DP_LUA_CALLS = 0, /* hook calls (messages of a type without a hook are not counted) */
    DP_LUA_CHANGED,   /* passed on with edits */
    DP_LUA_DROPPED,   /* dropped by the hook (false, m:drop()) or by an error with drop_on_error */
    DP_LUA_ERRORS,    /* calls that raised an error (instruction or memory limit included) */
    DP_LUA_CTR_COUNT
};

/* "lua_calls", "lua_changed"...: printed as they are in the summary line. */
extern const char *const dp_lua_ctr_names[DP_LUA_CTR_COUNT];

struct dp_lua;

/*
 * Loads the Lua text file <path> (binary chunks are refused) and runs its top level once.
 * <drop_on_error>: a hook that raises an error drops its message instead of passing it on
 * unchanged. 0 with *<out> set; -EINVAL with <err> holding Lua's message ("FILE:LINE: ...") for
 * a syntax or runtime error, the instruction or memory limit, a hook global that is not a
 * function, or a script that defines none of the hooks; -ENOENT, -EACCES, -EISDIR... with <err>
 * naming the file when it cannot be read; -ENOMEM.
 */
int dp_lua_new(const char *path, bool drop_on_error, struct dp_lua **out, struct dp_err *err)
        DP_WUR;

/*
 * Calls the hook for (*<mp>)'s type, if the script defines one (other messages pass untouched
 * and uncounted). *<mp> is a reference the caller owns. True: pass it on (*<mp> may be another
 * message now: the caller's reference moved to it); false: drop it (the caller still owns *<mp>,
 * its message as before the call, and unrefs it). A runtime error is counted and logged (the
 * first 10, then once per 1000, with the script's FILE:LINE); the message then goes on
 * unchanged, or is dropped with drop_on_error.
 */
bool dp_lua_apply(struct dp_lua *l, struct dp_msg **mp);

/* The counters, indexed by enum dp_lua_ctr. */
const uint64_t *dp_lua_ctr(const struct dp_lua *l);

/* The message of the most recent error a hook raised ("FILE:LINE: ..."), or "" when none has
 * been raised yet. The string lives as long as <l>; the next error overwrites it. (An addition
 * to the interface, for tests and for the exit summary.) */
const char *dp_lua_last_error(const struct dp_lua *l);

/* Closes the Lua state and frees <l> (NULL: nothing). */
void dp_lua_free(struct dp_lua *l);

#endif
