#include "cli_util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void set_io_error(thrift_error_t *err, const char *path,
                         const char *fmt, ...) {
    if (!err || err->code != THRIFT_OK)
        return;
    memset(err, 0, sizeof *err);
    err->code = THRIFT_IO;
    snprintf(err->source, sizeof err->source, "%s",
             strcmp(path, "-") ? path : "<stdin>");
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->text, sizeof err->text, fmt, ap);
    va_end(ap);
}

char *cli_read_file(const char *path, size_t max_len, size_t *len,
                    thrift_error_t *err) {
    bool is_stdin = !strcmp(path, "-");
    int fd = is_stdin ? STDIN_FILENO : open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        set_io_error(err, path, "cannot open: %s", strerror(errno));
        return NULL;
    }
    struct stat st;
    size_t cap = 64 * 1024;
    if (fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
        set_io_error(err, path, "is a directory");
        if (!is_stdin)
            close(fd);
        return NULL;
    }
    // A regular file tells its size, so one allocation usually suffices;
    // pipes grow the buffer as bytes arrive.
    if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size >= 0) {
        if ((uint64_t)st.st_size > max_len) {
            set_io_error(err, path, "file too large (%lld bytes, limit %zu)",
                         (long long)st.st_size, max_len);
            if (!is_stdin)
                close(fd);
            return NULL;
        }
        cap = (size_t)st.st_size + 1;
    }
    char *buf = malloc(cap);
    size_t n = 0;
    for (;;) {
        if (!buf) {
            set_io_error(err, path, "out of memory");
            break;
        }
        if (n + 1 >= cap) {
            if (cap > max_len) {
                set_io_error(err, path, "input too large (limit %zu bytes)",
                             max_len);
                free(buf);
                buf = NULL;
                break;
            }
            size_t ncap = cap * 2 > max_len + 1 ? max_len + 1 : cap * 2;
            if (ncap <= cap)
                ncap = cap + 1;
            char *nb = realloc(buf, ncap);
            if (!nb) {
                free(buf);
                buf = NULL;
                continue; /* reports out of memory above */
            }
            buf = nb;
            cap = ncap;
        }
        ssize_t r = read(fd, buf + n, cap - 1 - n);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            set_io_error(err, path, "read failed: %s", strerror(errno));
            free(buf);
            buf = NULL;
            break;
        }
        if (r == 0)
            break;
        n += (size_t)r;
    }
    if (!is_stdin)
        close(fd);
    if (!buf)
        return NULL;
    buf[n] = '\0';
    if (len)
        *len = n;
    return buf;
}

void cli_include_dirs_free(cli_include_dirs_t *inc) {
    if (!inc)
        return;
    free(inc->dirs);
    inc->dirs = NULL;
    inc->count = inc->cap = 0;
}

static bool include_dirs_add(cli_include_dirs_t *inc, const char *dir) {
    if (inc->count == inc->cap) {
        size_t ncap = inc->cap ? inc->cap * 2 : 8;
        const char **nd = realloc(inc->dirs, ncap * sizeof *nd);
        if (!nd)
            return false;
        inc->dirs = nd;
        inc->cap = ncap;
    }
    inc->dirs[inc->count++] = dir;
    return true;
}

int cli_take_value_opt(int argc, char **argv, int *i, const char *cmd,
                       const char *name, const char **value) {
    const char *arg = argv[*i];
    size_t nlen = strlen(name);
    if (strncmp(arg, name, nlen) != 0)
        return 0;
    if (arg[nlen] == '=') {
        *value = arg + nlen + 1;
        return 1;
    }
    if (arg[nlen] != '\0')
        return 0;
    if (*i + 1 >= argc) {
        fprintf(stderr, "dynthrift %s: option %s needs a value\n", cmd, name);
        return -1;
    }
    *value = argv[++*i];
    return 1;
}

int cli_take_include_opt(int argc, char **argv, int *i, const char *cmd,
                         cli_include_dirs_t *inc) {
    const char *arg = argv[*i];
    const char *dir = NULL;
    if (!strncmp(arg, "-I", 2)) {
        if (arg[2]) {
            dir = arg + 2;
        } else if (*i + 1 < argc) {
            dir = argv[++*i];
        } else {
            fprintf(stderr, "dynthrift %s: option -I needs a directory\n", cmd);
            return -1;
        }
    } else {
        int r = cli_take_value_opt(argc, argv, i, cmd, "--include", &dir);
        if (r <= 0)
            return r;
    }
    if (!include_dirs_add(inc, dir)) {
        fprintf(stderr, "dynthrift %s: out of memory\n", cmd);
        return -1;
    }
    return 1;
}

/* The -I dirs, then DYNTHRIFT_PATH's (colon-separated, as -I).  `env` is
 * the owned copy of the variable the added entries point into. */
static bool search_dirs(const cli_include_dirs_t *inc, cli_include_dirs_t *all, char **env) {
    memset(all, 0, sizeof *all);
    *env = NULL;
    for (size_t i = 0; inc && i < inc->count; i++)
        if (!include_dirs_add(all, inc->dirs[i]))
            return false;
    const char *var = getenv("DYNTHRIFT_PATH");
    if (!var || !*var)
        return true;
    *env = strdup(var);
    if (!*env)
        return false;
    for (char *save = NULL, *d = strtok_r(*env, ":", &save); d; d = strtok_r(NULL, ":", &save))
        if (*d && !include_dirs_add(all, d))
            return false;
    return true;
}

thrift_schema_t *cli_load_schema(const char *path,
                                 const cli_include_dirs_t *inc,
                                 thrift_error_t *err) {
    cli_include_dirs_t all;
    char *env;
    if (!search_dirs(inc, &all, &env)) {
        cli_include_dirs_free(&all);
        free(env);
        thrift_error_clear(err);
        if (err) {
            err->code = THRIFT_NOMEM;
            snprintf(err->text, sizeof err->text, "out of memory");
        }
        return NULL;
    }
    thrift_load_options_t opts;
    memset(&opts, 0, sizeof opts);
    opts.include_dirs = all.dirs;
    opts.include_dir_count = all.count;
    thrift_schema_t *schema = NULL;
    if (strcmp(path, "-") != 0) {
        // A bare name that is not here is looked up along the search path,
        // as grpcurl's -import-path finds proto files.
        char found[4096];
        if (!strchr(path, '/') && access(path, F_OK) != 0)
            for (size_t i = 0; i < all.count; i++) {
                int n = snprintf(found, sizeof found, "%s/%s", all.dirs[i], path);
                if (n > 0 && (size_t)n < sizeof found && access(found, R_OK) == 0) {
                    path = found;
                    break;
                }
            }
        schema = thrift_load_ex(path, &opts, err);
        cli_include_dirs_free(&all);
        free(env);
        return schema;
    }
    // IDL on stdin: includes still resolve against the -I dirs (and the
    // current directory, which is where a relative name points).
    size_t len = 0;
    char *text = cli_read_file(path, (size_t)1 << 30, &len, err);
    if (text)
        schema = thrift_load_string("<stdin>", text, len, &opts, err);
    free(text);
    cli_include_dirs_free(&all);
    free(env);
    return schema;
}

void cli_print_error(FILE *out, const thrift_error_t *err) {
    char small[1024];
    size_t n = thrift_error_render(err, true, small, sizeof small);
    if (n < sizeof small) {
        fprintf(out, "%s\n", small);
        return;
    }
    char *big = malloc(n + 1);
    if (!big) {
        fprintf(out, "%s\n", small);
        return;
    }
    thrift_error_render(err, true, big, n + 1);
    fprintf(out, "%s\n", big);
    free(big);
}

int cli_exit_code(thrift_status_t status) {
    switch (status) {
    case THRIFT_OK:
        return CLI_EXIT_OK;
    case THRIFT_NOMEM:
    case THRIFT_MISUSE:
        return CLI_EXIT_SOFTWARE;
    case THRIFT_TIMEOUT:
    case THRIFT_CLOSED:
    case THRIFT_TRANSPORT:
        return CLI_EXIT_TRANSPORT;
    case THRIFT_APP_EXCEPTION:
        return CLI_EXIT_APP_EXCEPTION;
    case THRIFT_DECLARED_EXCEPTION:
        return CLI_EXIT_DECLARED_EXCEPTION;
    default:
        return CLI_EXIT_DATA;
    }
}
