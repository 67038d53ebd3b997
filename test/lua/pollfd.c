/* A test-only Lua module standing in for a host's event loop (the tests
 * need no luaposix): require "pollfd_<vm>" returns a function
 * wait(fd, timeout_ms) -> true when `fd` is readable within the timeout
 * (poll(2), POLLIN), false when the time passed; an error otherwise. */
#include <errno.h>
#include <poll.h>
#include <string.h>

#include <lauxlib.h>
#include <lua.h>

static int wait_readable(lua_State *L) {
    struct pollfd p = {.fd = (int)luaL_checkinteger(L, 1), .events = POLLIN, .revents = 0};
    lua_Integer ms = luaL_optinteger(L, 2, -1);
    int n;
    do
        n = poll(&p, 1, ms < 0 ? -1 : ms > 600000 ? 600000 : (int)ms);
    while (n < 0 && errno == EINTR);
    if (n < 0)
        return luaL_error(L, "poll: %s", strerror(errno));
    lua_pushboolean(L, n > 0 && (p.revents & POLLIN));
    return 1;
}

__attribute__((visibility("default"))) int POLLFD_OPEN(lua_State *L) {
    lua_pushcfunction(L, wait_readable);
    return 1;
}
