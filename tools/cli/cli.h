/* The dynthrift CLI: each command group lives in its own cmd_*.c file and
 * registers a `int cmd_<name>(int argc, char **argv)` entry here. */
#ifndef DYNTHRIFT_CLI_H
#define DYNTHRIFT_CLI_H

#include "dynthrift/dynthrift.h"

/* Exit codes shared by every command (documented in --help and README). */
enum {
    CLI_EXIT_OK = 0,
    CLI_EXIT_DECLARED_EXCEPTION = 1, /* call: the server threw a declared exception */
    CLI_EXIT_APP_EXCEPTION = 2,      /* call: TApplicationException */
    CLI_EXIT_BENCH_FAILED = 1,       /* bench: no call succeeded, or a check failed */
    CLI_EXIT_TRANSPORT = 3,          /* connect/timeout/closed */
    CLI_EXIT_USAGE = 64,             /* bad usage (EX_USAGE) */
    CLI_EXIT_DATA = 65,              /* bad input: IDL, JSON, bytes (EX_DATAERR) */
    CLI_EXIT_SOFTWARE = 70           /* internal error (EX_SOFTWARE) */
};

typedef struct cli_command {
    const char *name;
    const char *summary;
    int (*run)(int argc, char **argv); /* argv[0] is the command name */
} cli_command_t;

/* Weak so that a command group not yet built simply does not appear. */
#define CLI_DECLARE(fn) int fn(int argc, char **argv) __attribute__((weak))
CLI_DECLARE(cmd_idl);
CLI_DECLARE(cmd_encode);
CLI_DECLARE(cmd_decode);
CLI_DECLARE(cmd_call);
CLI_DECLARE(cmd_serve);
CLI_DECLARE(cmd_bench);
CLI_DECLARE(cmd_gateway);
CLI_DECLARE(cmd_ui);
CLI_DECLARE(cmd_list);
CLI_DECLARE(cmd_describe);

#endif
