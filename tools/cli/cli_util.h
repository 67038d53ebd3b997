/* Small helpers shared by the dynthrift CLI commands: reading a file or
 * stdin, collecting -I include dirs, loading a schema with them, and
 * printing a thrift_error_t the one way every tool prints it. */
#ifndef DYNTHRIFT_CLI_UTIL_H
#define DYNTHRIFT_CLI_UTIL_H

#include <stdio.h>

#include "cli.h"

/* Reads all of `path` ("-" means stdin).  Returns owned (free()), NUL
 * terminated, with the length in *len; NULL with err filled (THRIFT_IO,
 * source = path) on failure.  Refuses files larger than `max_len`. */
char *cli_read_file(const char *path, size_t max_len, size_t *len,
                    thrift_error_t *err);

/* Include directories collected from -I options, in order. */
typedef struct cli_include_dirs {
    const char **dirs; /* borrowed from argv */
    size_t count;
    size_t cap;
} cli_include_dirs_t;

void cli_include_dirs_free(cli_include_dirs_t *inc);

/* Option parsing shared by commands that take -I.  Looks at argv[*i];
 * recognises "-I DIR", "-IDIR", "--include DIR" and "--include=DIR".
 * Returns 1 when it consumed the option (advancing *i past a separate
 * DIR argument), 0 when argv[*i] is something else, -1 on a usage error
 * (missing DIR; a message went to stderr). */
int cli_take_include_opt(int argc, char **argv, int *i, const char *cmd,
                         cli_include_dirs_t *inc);

/* Matches "--name VALUE" and "--name=VALUE" at argv[*i].  Returns 1 and sets
 * *value (borrowed from argv) when matched, 0 when argv[*i] is another
 * argument, -1 when VALUE is missing (a message went to stderr). */
int cli_take_value_opt(int argc, char **argv, int *i, const char *cmd,
                       const char *name, const char **value);

/* Loads a schema from `path` ("-": IDL text on stdin, named "<stdin>") with
 * the collected include dirs, then the directories of $DYNTHRIFT_PATH
 * (colon-separated); a bare file name not found in the current directory
 * is looked up along the same dirs.  Returns owned (thrift_schema_unref) or
 * NULL with err filled. */
thrift_schema_t *cli_load_schema(const char *path,
                                 const cli_include_dirs_t *inc,
                                 thrift_error_t *err);

/* Prints the rendered error (for IDL errors the source line and a caret
 * under the column follow on two more lines) to `out`, newline ended. */
void cli_print_error(FILE *out, const thrift_error_t *err);

/* The exit code for a failed operation's status: bad input -> 65, internal
 * trouble (out of memory, misuse) -> 70, transport trouble -> 3. */
int cli_exit_code(thrift_status_t status);

#endif
