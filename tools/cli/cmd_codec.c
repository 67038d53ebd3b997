/* `dynthrift encode` and `dynthrift decode`: JSON <-> Thrift bytes on
 * stdin/stdout, for one value or a whole message, plus `decode --raw`, the
 * schema-less field-id dump. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cli.h"
#include "dynthrift/json.h"

/* Inputs larger than this are refused before reading them all: the wire
 * limit for one message (Apache's default) plus room for JSON's overhead. */
#define CODEC_MAX_INPUT ((size_t)512 * 1024 * 1024)

typedef struct codec_args {
    const char *cmd;
    const char *include_dirs[64];
    size_t include_count;
    const char *file;
    const char *type; /* TYPE, or SERVICE with --message */
    thrift_protocol_t proto;
    bool message;
    bool raw;
    bool pretty;
    bool ignore_unknown;
    bool no_required;
    bool non_strict;
    bool skip_mismatched;
} codec_args_t;

static void print_error(const char *cmd, const thrift_error_t *err) {
    char buf[1024];
    thrift_error_render(err, true, buf, sizeof buf);
    fprintf(stderr, "dynthrift %s: %s\n", cmd, buf);
}

static int exit_code(thrift_status_t st) {
    switch (st) {
    case THRIFT_NOMEM:
    case THRIFT_MISUSE:
        return CLI_EXIT_SOFTWARE;
    default:
        return CLI_EXIT_DATA;
    }
}

/* Reads all of stdin; NULL (with err) on failure or when too large. */
static uint8_t *read_stdin(size_t *len, thrift_error_t *err) {
    size_t cap = 1 << 16, n = 0;
    uint8_t *buf = malloc(cap);
    if (!buf) {
        err->code = THRIFT_NOMEM;
        snprintf(err->text, sizeof err->text, "out of memory");
        return NULL;
    }
    for (;;) {
        if (n == cap) {
            if (cap >= CODEC_MAX_INPUT) {
                free(buf);
                err->code = THRIFT_LIMIT;
                snprintf(err->text, sizeof err->text,
                         "input larger than %zu bytes", CODEC_MAX_INPUT);
                return NULL;
            }
            uint8_t *nb = realloc(buf, cap * 2);
            if (!nb) {
                free(buf);
                err->code = THRIFT_NOMEM;
                snprintf(err->text, sizeof err->text, "out of memory");
                return NULL;
            }
            buf = nb;
            cap *= 2;
        }
        size_t got = fread(buf + n, 1, cap - n, stdin);
        n += got;
        if (got == 0) {
            if (ferror(stdin)) {
                free(buf);
                err->code = THRIFT_IO;
                snprintf(err->text, sizeof err->text, "reading stdin: %s",
                         strerror(errno));
                return NULL;
            }
            break;
        }
    }
    *len = n;
    return buf;
}

static void usage(FILE *out, const char *cmd) {
    if (!strcmp(cmd, "encode")) {
        fprintf(out,
            "usage: dynthrift encode [-I DIR]... FILE TYPE [options] < value.json > bytes\n"
            "       dynthrift encode [-I DIR]... --message FILE SERVICE [options] < msg.json\n"
            "\n"
            "Reads a JSON value of TYPE (a struct, union or exception; module.Name for\n"
            "an included one) on stdin and writes its Thrift encoding to stdout.\n"
            "With --message the input is a whole message:\n"
            "  {\"method\": \"add\", \"type\": \"call\", \"seqid\": 1, \"args\": {...}}\n"
            "type is call, oneway (\"args\"), reply (\"result\": {\"success\": ...} or a\n"
            "declared exception by name) or exception (\"exception\":\n"
            "{\"message\": ..., \"type\": N}, a TApplicationException).\n"
            "\n"
            "options:\n"
            "  -I DIR, --include DIR   search DIR for included .thrift files\n"
            "  --protocol P            binary (default), compact or json\n"
            "  --message               encode a whole message (FILE SERVICE)\n"
            "  --ignore-unknown        skip JSON keys that name no field\n"
            "\n"
            "exit codes: 0 ok, 64 bad usage, 65 bad input (IDL, JSON), 70 internal error\n");
    } else {
        fprintf(out,
            "usage: dynthrift decode [-I DIR]... FILE TYPE [options] < bytes > value.json\n"
            "       dynthrift decode [-I DIR]... --message FILE SERVICE [options]\n"
            "       dynthrift decode --raw [--message] [--protocol P]\n"
            "\n"
            "Reads one Thrift-encoded value of TYPE (or with --message a whole\n"
            "message of SERVICE) on stdin and writes it as JSON to stdout.\n"
            "--raw needs no IDL and prints the field-id tree, each value tagged with\n"
            "its wire type: {\"1\": {\"i64\": 42}, \"2\": {\"str\": \"x\"},\n"
            "\"3\": {\"lst\": [\"i32\", [1, 2]]}, \"4\": {\"map\": [\"str\", \"i64\", [[\"a\", 1]]]},\n"
            "\"5\": {\"rec\": {...}}}; bytes that are not UTF-8 show as {\"bin\": base64}.\n"
            "\n"
            "options:\n"
            "  -I DIR, --include DIR   search DIR for included .thrift files\n"
            "  --protocol P            binary (default), compact or json\n"
            "  --message               decode a whole message (FILE SERVICE)\n"
            "  --raw                   no IDL: print the field-id tree\n"
            "  --pretty                indent the JSON output\n"
            "  --non-strict            binary: also accept old-style message headers\n"
            "  --skip-mismatched       skip a known field whose wire type differs from\n"
            "                          the IDL (as Apache's generated code does)\n"
            "  --no-required           do not insist on required fields\n"
            "\n"
            "exit codes: 0 ok, 64 bad usage, 65 bad input (IDL, bytes), 70 internal error\n");
    }
}

/* 0 ok, else the exit code to return. */
static int parse_args(int argc, char **argv, codec_args_t *a) {
    memset(a, 0, sizeof *a);
    a->cmd = argv[0];
    a->proto = THRIFT_PROTO_BINARY;
    const char *positional[2];
    int npos = 0;
    for (int i = 1; i < argc; i++) {
        const char *s = argv[i];
        const char *val = NULL;
        if (!strcmp(s, "--help") || !strcmp(s, "-h")) {
            usage(stdout, a->cmd);
            return -1;
        } else if (!strcmp(s, "-I") || !strcmp(s, "--include")) {
            if (i + 1 >= argc)
                goto missing;
            val = argv[++i];
        } else if (!strncmp(s, "-I", 2)) {
            val = s + 2;
        } else if (!strncmp(s, "--include=", 10)) {
            val = s + 10;
        } else if (!strcmp(s, "--protocol") || !strncmp(s, "--protocol=", 11)) {
            const char *p = s[10] == '=' ? s + 11 : (i + 1 < argc ? argv[++i] : NULL);
            if (!p)
                goto missing;
            if (!strcmp(p, "binary"))
                a->proto = THRIFT_PROTO_BINARY;
            else if (!strcmp(p, "compact"))
                a->proto = THRIFT_PROTO_COMPACT;
            else if (!strcmp(p, "json"))
                a->proto = THRIFT_PROTO_JSON;
            else {
                fprintf(stderr, "dynthrift %s: unknown protocol '%s' (binary, compact, json)\n",
                        a->cmd, p);
                return CLI_EXIT_USAGE;
            }
            continue;
        } else if (!strcmp(s, "--message")) {
            a->message = true;
            continue;
        } else if (!strcmp(s, "--raw") && !strcmp(a->cmd, "decode")) {
            a->raw = true;
            continue;
        } else if (!strcmp(s, "--pretty") && !strcmp(a->cmd, "decode")) {
            a->pretty = true;
            continue;
        } else if (!strcmp(s, "--non-strict") && !strcmp(a->cmd, "decode")) {
            a->non_strict = true;
            continue;
        } else if (!strcmp(s, "--skip-mismatched") && !strcmp(a->cmd, "decode")) {
            a->skip_mismatched = true;
            continue;
        } else if (!strcmp(s, "--ignore-unknown") && !strcmp(a->cmd, "encode")) {
            a->ignore_unknown = true;
            continue;
        } else if (!strcmp(s, "--no-required") && !strcmp(a->cmd, "decode")) {
            a->no_required = true;
            continue;
        } else if (s[0] == '-' && s[1]) {
            fprintf(stderr, "dynthrift %s: unknown option '%s'\n", a->cmd, s);
            usage(stderr, a->cmd);
            return CLI_EXIT_USAGE;
        } else {
            if (npos == 2) {
                fprintf(stderr, "dynthrift %s: too many arguments\n", a->cmd);
                usage(stderr, a->cmd);
                return CLI_EXIT_USAGE;
            }
            positional[npos++] = s;
            continue;
        }
        // an include dir
        if (a->include_count == sizeof a->include_dirs / sizeof a->include_dirs[0]) {
            fprintf(stderr, "dynthrift %s: too many -I options\n", a->cmd);
            return CLI_EXIT_USAGE;
        }
        a->include_dirs[a->include_count++] = val;
    }
    if (a->raw) {
        if (npos) {
            fprintf(stderr, "dynthrift %s: --raw takes no FILE or TYPE\n", a->cmd);
            return CLI_EXIT_USAGE;
        }
        return 0;
    }
    if (npos != 2) {
        fprintf(stderr, "dynthrift %s: expected FILE and %s\n", a->cmd,
                a->message ? "SERVICE" : "TYPE");
        usage(stderr, a->cmd);
        return CLI_EXIT_USAGE;
    }
    a->file = positional[0];
    a->type = positional[1];
    return 0;
missing:
    fprintf(stderr, "dynthrift %s: option '%s' needs a value\n", a->cmd, argv[argc - 1]);
    return CLI_EXIT_USAGE;
}

static thrift_schema_t *load_schema(const codec_args_t *a, thrift_error_t *err) {
    thrift_load_options_t opts = {0};
    opts.include_dirs = a->include_dirs;
    opts.include_dir_count = a->include_count;
    return thrift_load_ex(a->file, &opts, err);
}

static const char *msg_type_name(thrift_message_type_t t) {
    switch (t) {
    case THRIFT_MSG_CALL: return "call";
    case THRIFT_MSG_REPLY: return "reply";
    case THRIFT_MSG_EXCEPTION: return "exception";
    case THRIFT_MSG_ONEWAY: return "oneway";
    }
    return NULL;
}

static const char *body_key(thrift_message_type_t t) {
    return t == THRIFT_MSG_REPLY ? "result"
         : t == THRIFT_MSG_EXCEPTION ? "exception" : "args";
}

/* The struct a message body of `type` for `method` has.  A multiplexed name
 * "Service:method" is looked up by its last part. */
static const thrift_struct_def_t *body_def(const thrift_service_def_t *svc,
                                           const char *method, size_t len,
                                           thrift_message_type_t type,
                                           thrift_error_t *err) {
    if (type == THRIFT_MSG_EXCEPTION)
        return thrift_app_exception_def();
    const char *colon = memchr(method, ':', len);
    while (colon) {
        len -= (size_t)(colon + 1 - method);
        method = colon + 1;
        colon = memchr(method, ':', len);
    }
    const thrift_function_def_t *fn =
        thrift_service_def_find_function_n(svc, method, len);
    if (!fn) {
        err->code = THRIFT_NOT_FOUND;
        snprintf(err->text, sizeof err->text, "service %s has no method '%.*s'",
                 thrift_service_def_name(svc), (int)(len > 100 ? 100 : len), method);
        return NULL;
    }
    return type == THRIFT_MSG_REPLY ? thrift_function_def_result(fn)
                                    : thrift_function_def_args(fn);
}

static const thrift_type_def_t *find_type(const thrift_schema_t *schema,
                                          const char *name, thrift_error_t *err) {
    const thrift_struct_def_t *sd = thrift_schema_find_struct(schema, name);
    if (sd)
        return thrift_struct_def_type(sd);
    const thrift_type_def_t *t = thrift_schema_find_type(schema, name);
    if (t)
        return t;
    err->code = THRIFT_NOT_FOUND;
    snprintf(err->text, sizeof err->text, "no type '%s' in the schema", name);
    return NULL;
}

static void codec_options(const codec_args_t *a, thrift_codec_options_t *o) {
    thrift_codec_options_init(o);
    if (a->non_strict)
        o->strict_read = false;
    if (a->no_required)
        o->check_required = false;
    if (a->skip_mismatched)
        o->skip_mismatched = true;
}

/* ---- encode ------------------------------------------------------------ */

static thrift_status_t encode_message(const codec_args_t *a,
                                      const thrift_schema_t *schema,
                                      const char *text, size_t len,
                                      thrift_arena_t *arena,
                                      thrift_buffer_t *out, thrift_error_t *err) {
    const thrift_service_def_t *svc = thrift_schema_find_service(schema, a->type);
    if (!svc) {
        err->code = THRIFT_NOT_FOUND;
        snprintf(err->text, sizeof err->text, "no service '%s' in the schema", a->type);
        return err->code;
    }
    json_error_t jerr;
    json_t *msg = json_loadb(text, len, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &jerr);
    if (!msg) {
        err->code = THRIFT_SYNTAX;
        err->line = jerr.line;
        err->column = jerr.column;
        snprintf(err->source, sizeof err->source, "<json>");
        snprintf(err->text, sizeof err->text, "%s", jerr.text);
        return err->code;
    }
    thrift_status_t st = THRIFT_INVALID;
    const json_t *jm = json_object_get(msg, "method");
    const json_t *jt = json_object_get(msg, "type");
    const json_t *js = json_object_get(msg, "seqid");
    thrift_message_type_t type = THRIFT_MSG_CALL;
    int32_t seqid = 0;
    if (!json_is_object(msg) || !json_is_string(jm)) {
        snprintf(err->text, sizeof err->text,
                 "a message is an object with \"method\", \"type\", \"seqid\" and the body");
        goto done;
    }
    if (jt) {
        const char *tn = json_string_value(jt);
        if (tn && !strcmp(tn, "call")) type = THRIFT_MSG_CALL;
        else if (tn && !strcmp(tn, "reply")) type = THRIFT_MSG_REPLY;
        else if (tn && !strcmp(tn, "exception")) type = THRIFT_MSG_EXCEPTION;
        else if (tn && !strcmp(tn, "oneway")) type = THRIFT_MSG_ONEWAY;
        else {
            snprintf(err->path, sizeof err->path, "type");
            snprintf(err->text, sizeof err->text,
                     "expected \"call\", \"reply\", \"exception\" or \"oneway\"");
            goto done;
        }
    }
    if (js) {
        json_int_t n = json_integer_value(js);
        if (!json_is_integer(js) || n < INT32_MIN || n > INT32_MAX) {
            snprintf(err->path, sizeof err->path, "seqid");
            snprintf(err->text, sizeof err->text, "expected an i32");
            goto done;
        }
        seqid = (int32_t)n;
    }
    {
        const char *method = json_string_value(jm);
        size_t mlen = json_string_length(jm);
        const thrift_struct_def_t *bd = body_def(svc, method, mlen, type, err);
        if (!bd) {
            st = err->code;
            goto done;
        }
        const char *key = body_key(type);
        const json_t *jb = json_object_get(msg, key);
        json_t *empty = NULL;
        if (!jb) // a call without arguments may leave "args" out
            jb = empty = json_object();
        unsigned flags = a->ignore_unknown ? THRIFT_JSON_IGNORE_UNKNOWN : 0;
        thrift_value_t *body =
            thrift_json_to_value(arena, thrift_struct_def_type(bd), jb, flags, err);
        json_decref(empty);
        if (!body) {
            // The path starts with the body struct's name; say "args" instead.
            char tmp[sizeof err->path];
            const char *name = thrift_struct_def_name(bd);
            size_t nl = strlen(name);
            if (!strncmp(err->path, name, nl) &&
                (err->path[nl] == '.' || err->path[nl] == '\0'))
                snprintf(tmp, sizeof tmp, "%s%s", key, err->path + nl);
            else
                snprintf(tmp, sizeof tmp, "%s", key);
            memcpy(err->path, tmp, sizeof tmp);
            st = err->code;
            goto done;
        }
        st = thrift_encode_message(a->proto, method, mlen, type, seqid, body, out, err);
    }
done:
    if (st != THRIFT_OK && err->code == THRIFT_OK)
        err->code = st;
    json_decref(msg);
    return st;
}

int cmd_encode(int argc, char **argv) {
    codec_args_t a;
    int rc = parse_args(argc, argv, &a);
    if (rc)
        return rc < 0 ? CLI_EXIT_OK : rc;
    thrift_error_t err;
    thrift_error_clear(&err);
    thrift_schema_t *schema = load_schema(&a, &err);
    if (!schema) {
        print_error(a.cmd, &err);
        return exit_code(err.code);
    }
    size_t len = 0;
    uint8_t *text = NULL;
    thrift_arena_t *arena = thrift_arena_new(NULL);
    thrift_buffer_t *out = thrift_buffer_new();
    thrift_status_t st = THRIFT_NOMEM;
    if (!arena || !out)
        goto done;
    text = read_stdin(&len, &err);
    if (!text) {
        st = err.code;
        goto done;
    }
    if (a.message) {
        st = encode_message(&a, schema, (const char *)text, len, arena, out, &err);
    } else {
        const thrift_type_def_t *type = find_type(schema, a.type, &err);
        if (!type) {
            st = err.code;
            goto done;
        }
        unsigned flags = a.ignore_unknown ? THRIFT_JSON_IGNORE_UNKNOWN : 0;
        thrift_value_t *v = thrift_json_loads(arena, type, (const char *)text, len,
                                              flags, &err);
        st = v ? thrift_encode(a.proto, v, out, &err) : err.code;
    }
    if (st == THRIFT_OK) {
        fwrite(thrift_buffer_data(out), 1, thrift_buffer_len(out), stdout);
        if (fflush(stdout) != 0) {
            fprintf(stderr, "dynthrift %s: writing stdout: %s\n", a.cmd, strerror(errno));
            st = THRIFT_IO;
        }
    }
done:
    if (st != THRIFT_OK && err.code != THRIFT_OK)
        print_error(a.cmd, &err);
    else if (st != THRIFT_OK && st != THRIFT_IO)
        fprintf(stderr, "dynthrift %s: %s\n", a.cmd, thrift_status_str(st));
    free(text);
    thrift_buffer_free(out);
    thrift_arena_free(arena);
    thrift_schema_unref(schema);
    return st == THRIFT_OK ? CLI_EXIT_OK : exit_code(st);
}

/* ---- decode ------------------------------------------------------------ */

// What decode prints is collected here and written only once the whole
// input is accepted: a rejected input (trailing bytes included) prints
// nothing on stdout, only the error on stderr.
static thrift_buffer_t *decode_out;

static bool put_text(const char *s) {
    return thrift_buffer_append(decode_out, s, strlen(s)) == THRIFT_OK;
}

static thrift_status_t decode_message(const codec_args_t *a,
                                      const thrift_schema_t *schema,
                                      const uint8_t *data, size_t len,
                                      thrift_arena_t *arena, size_t *consumed,
                                      thrift_error_t *err) {
    const thrift_service_def_t *svc = thrift_schema_find_service(schema, a->type);
    if (!svc) {
        err->code = THRIFT_NOT_FOUND;
        snprintf(err->text, sizeof err->text, "no service '%s' in the schema", a->type);
        return err->code;
    }
    thrift_codec_options_t opts;
    codec_options(a, &opts);
    thrift_message_header_t hdr;
    size_t hlen = 0, blen = 0;
    thrift_status_t st =
        thrift_decode_message_header(a->proto, data, len, &opts, &hdr, &hlen, err);
    if (st != THRIFT_OK)
        return st;
    const char *tn = msg_type_name(hdr.type);
    if (!tn) {
        err->code = THRIFT_INVALID;
        snprintf(err->text, sizeof err->text, "unknown message type %d", (int)hdr.type);
        return err->code;
    }
    const thrift_struct_def_t *bd = body_def(svc, hdr.name, hdr.name_len, hdr.type, err);
    if (!bd)
        return err->code;
    thrift_value_t *body = thrift_decode_message_body(a->proto, bd, data + hlen,
                                                      len - hlen, arena, &opts,
                                                      &blen, err);
    if (!body)
        return err->code ? err->code : THRIFT_INVALID;
    *consumed = hlen + blen;
    unsigned flags = a->pretty ? THRIFT_JSON_PRETTY : 0;
    char *json = thrift_json_dumps(body, flags, NULL, err);
    if (!json)
        return err->code;
    // Composed by hand so the body keeps the JSON layer's number formatting.
    json_t *name = json_stringn(hdr.name, hdr.name_len);
    char *qname = name ? json_dumps(name, JSON_ENCODE_ANY) : NULL;
    json_decref(name);
    bool ok = qname != NULL;
    if (ok) {
        const char *sep = a->pretty ? "\n  " : "";
        const char *sp = a->pretty ? " " : "";
        char head[128];
        snprintf(head, sizeof head, "%d", (int)hdr.seqid);
        ok = put_text("{") && put_text(sep) && put_text("\"method\":") &&
             put_text(sp) && put_text(qname) && put_text(",") && put_text(sep) &&
             put_text("\"type\":") && put_text(sp) && put_text("\"") &&
             put_text(tn) && put_text("\",") && put_text(sep) &&
             put_text("\"seqid\":") && put_text(sp) && put_text(head) &&
             put_text(",") && put_text(sep) && put_text("\"") &&
             put_text(body_key(hdr.type)) && put_text("\":") && put_text(sp);
        if (ok && a->pretty) { // indent the body's lines by two more
            for (const char *p = json; *p && ok; p++) {
                ok = thrift_buffer_append(decode_out, p, 1) == THRIFT_OK;
                if (*p == '\n')
                    ok = ok && put_text("  ");
            }
            ok = ok && put_text("\n}\n");
        } else {
            ok = ok && put_text(json) && put_text("}\n");
        }
    }
    free(qname);
    thrift_json_text_free(json);
    if (!ok) {
        err->code = THRIFT_NOMEM;
        snprintf(err->text, sizeof err->text, "out of memory");
    }
    return ok ? THRIFT_OK : THRIFT_NOMEM;
}

int cmd_decode(int argc, char **argv) {
    codec_args_t a;
    int rc = parse_args(argc, argv, &a);
    if (rc)
        return rc < 0 ? CLI_EXIT_OK : rc;
    thrift_error_t err;
    thrift_error_clear(&err);
    thrift_schema_t *schema = NULL;
    if (!a.raw) {
        schema = load_schema(&a, &err);
        if (!schema) {
            print_error(a.cmd, &err);
            return exit_code(err.code);
        }
    }
    size_t len = 0, consumed = 0;
    uint8_t *data = NULL;
    thrift_arena_t *arena = thrift_arena_new(NULL);
    thrift_status_t st = THRIFT_NOMEM;
    decode_out = thrift_buffer_new();
    if (!arena || !decode_out)
        goto done;
    data = read_stdin(&len, &err);
    if (!data) {
        st = err.code;
        goto done;
    }
    unsigned flags = a.pretty ? THRIFT_JSON_PRETTY : 0;
    if (a.raw) {
        char *json = thrift_json_raw_dumps(a.proto, data, len, a.message, flags,
                                           &consumed, &err);
        st = json ? THRIFT_OK : err.code;
        if (json) {
            if (!put_text(json) || !put_text("\n"))
                st = err.code = THRIFT_NOMEM;
            thrift_json_text_free(json);
        }
    } else if (a.message) {
        st = decode_message(&a, schema, data, len, arena, &consumed, &err);
    } else {
        const thrift_type_def_t *type = find_type(schema, a.type, &err);
        if (!type) {
            st = err.code;
            goto done;
        }
        thrift_codec_options_t opts;
        codec_options(&a, &opts);
        thrift_value_t *v = thrift_decode(a.proto, type, data, len, arena, &opts,
                                          &consumed, &err);
        char *json = v ? thrift_json_dumps(v, flags, NULL, &err) : NULL;
        st = json ? THRIFT_OK : (err.code ? err.code : THRIFT_INVALID);
        if (json) {
            if (!put_text(json) || !put_text("\n"))
                st = err.code = THRIFT_NOMEM;
            thrift_json_text_free(json);
        }
    }
    if (st == THRIFT_OK && consumed != len) {
        // The offset says where the value ended, for looking at a capture
        // with several messages; the value itself is not printed.
        err.code = st = THRIFT_INVALID;
        err.has_offset = true;
        err.offset = consumed;
        snprintf(err.text, sizeof err.text, "%zu trailing bytes after the %s",
                 len - consumed, a.message ? "message" : "value");
    }
    if (st == THRIFT_OK &&
        (fwrite(thrift_buffer_data(decode_out), 1, thrift_buffer_len(decode_out),
                stdout) != thrift_buffer_len(decode_out) ||
         fflush(stdout) != 0)) {
        fprintf(stderr, "dynthrift %s: writing stdout: %s\n", a.cmd, strerror(errno));
        st = THRIFT_IO;
    }
done:
    if (st != THRIFT_OK && err.code != THRIFT_OK) {
        if (!err.source[0] && !a.raw)
            snprintf(err.source, sizeof err.source, "<%s>", thrift_protocol_name(a.proto));
        print_error(a.cmd, &err);
    } else if (st != THRIFT_OK && st != THRIFT_IO) {
        fprintf(stderr, "dynthrift %s: %s\n", a.cmd, thrift_status_str(st));
    }
    free(data);
    thrift_buffer_free(decode_out);
    decode_out = NULL;
    thrift_arena_free(arena);
    thrift_schema_unref(schema);
    return st == THRIFT_OK ? CLI_EXIT_OK : exit_code(st);
}
