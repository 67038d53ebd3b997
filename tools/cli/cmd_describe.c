/* `dynthrift list` and `dynthrift describe`: finding one's way in an IDL
 * as grpcurl's `list` and `describe` do -- services, `Service.method`
 * lines, a method's signature with argument ids and types, what it throws,
 * its doc comments, and a JSON template of its arguments to fill in (as
 * grpcurl's -msg-template). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cli.h"
#include "cli_net.h"
#include "cli_util.h"

static const char list_usage[] =
    "usage: dynthrift list [-I DIR]... FILE [SERVICE]\n"
    "\n"
    "Without SERVICE: the services FILE defines (and those it includes, qualified\n"
    "as module.Service), one a line.  With SERVICE: its methods, inherited ones\n"
    "included, as SERVICE.method lines, ready for `call` and `describe`.\n"
    "\n"
    "exit codes: 0 ok, 64 bad usage or no such service, 65 the IDL does not load.\n";

static const char describe_usage[] =
    "usage: dynthrift describe [-I DIR]... FILE SERVICE.METHOD | SERVICE | TYPE\n"
    "\n"
    "SERVICE.METHOD: the signature with argument ids and types, what it throws,\n"
    "its doc comment, and a JSON template of its arguments (every argument with\n"
    "a placeholder value of its type) to edit and pass to `call`.\n"
    "SERVICE: its methods' signatures.  TYPE (a struct, union, exception or\n"
    "enum; qualified as module.Type when included): its fields or values and a\n"
    "JSON template of a value.\n"
    "\n"
    "  --template      print only the JSON template (SERVICE.METHOD or TYPE)\n"
    "\n"
    "exit codes: 0 ok, 64 bad usage or nothing by that name, 65 the IDL does not load.\n";

/* ---- templates ------------------------------------------------------------ */

/* A placeholder JSON value of type `t`, as `call` and `encode` read it.
 * Recursive types stop at `depth` with an empty object or list. */
static json_t *template_of(const thrift_type_def_t *t, int depth) {
    t = thrift_type_def_resolved(t);
    switch (thrift_type_def_kind(t)) {
    case THRIFT_KIND_BOOL:
        return json_false();
    case THRIFT_KIND_I8:
    case THRIFT_KIND_I16:
    case THRIFT_KIND_I32:
    case THRIFT_KIND_I64:
        return json_integer(0);
    case THRIFT_KIND_DOUBLE:
        return json_real(0.0);
    case THRIFT_KIND_STRING:
    case THRIFT_KIND_BINARY: // base64: "" is the empty binary
        return json_string("");
    case THRIFT_KIND_UUID:
        return json_string("00000000-0000-0000-0000-000000000000");
    case THRIFT_KIND_ENUM: {
        const thrift_enum_def_t *e = thrift_type_def_enum(t);
        if (e && thrift_enum_def_value_count(e))
            return json_string(thrift_enum_value_def_name(thrift_enum_def_value_at(e, 0)));
        return json_integer(0);
    }
    case THRIFT_KIND_LIST:
    case THRIFT_KIND_SET: {
        json_t *a = json_array();
        if (depth > 0)
            json_array_append_new(a, template_of(thrift_type_def_elem(t), depth - 1));
        return a;
    }
    case THRIFT_KIND_MAP:
        return json_object(); // keys are the user's to choose
    case THRIFT_KIND_STRUCT:
    case THRIFT_KIND_UNION:
    case THRIFT_KIND_EXCEPTION: {
        json_t *o = json_object();
        const thrift_struct_def_t *s = thrift_type_def_struct(t);
        if (!s || depth <= 0)
            return o;
        size_t n = thrift_struct_def_field_count(s);
        // A union takes exactly one field: the template shows the first.
        if (thrift_type_def_kind(t) == THRIFT_KIND_UNION && n > 1)
            n = 1;
        for (size_t i = 0; i < n; i++) {
            const thrift_field_def_t *f = thrift_struct_def_field_at(s, i);
            json_object_set_new(o, thrift_field_def_name(f),
                                template_of(thrift_field_def_type(f), depth - 1));
        }
        return o;
    }
    default:
        return json_null();
    }
}

static void print_template(json_t *j) {
    char *text = json_dumps(j, JSON_ENCODE_ANY | JSON_PRESERVE_ORDER | JSON_INDENT(2));
    if (text)
        printf("%s\n", text);
    free(text);
}

/* ---- printing -------------------------------------------------------------- */

static void print_doc(const char *indent, const char *doc) {
    if (!doc || !*doc)
        return;
    // Each line of the doc comment, indented.
    const char *p = doc;
    while (*p) {
        const char *nl = strchr(p, '\n');
        size_t n = nl ? (size_t)(nl - p) : strlen(p);
        printf("%s// %.*s\n", indent, (int)n, p);
        p += n;
        if (*p == '\n')
            p++;
    }
}

static const char *req_prefix(thrift_requiredness_t r) {
    return r == THRIFT_REQ_REQUIRED ? "required " : r == THRIFT_REQ_OPTIONAL ? "optional " : "";
}

static void print_fields(const thrift_struct_def_t *s) {
    size_t n = thrift_struct_def_field_count(s);
    for (size_t i = 0; i < n; i++) {
        const thrift_field_def_t *f = thrift_struct_def_field_at(s, i);
        if (i)
            printf(", ");
        printf("%d: %s%s %s", thrift_field_def_id(f), req_prefix(thrift_field_def_requiredness(f)),
               thrift_type_def_name(thrift_field_def_type(f)), thrift_field_def_name(f));
    }
}

/* "i64 add(1: i64 a, 2: i64 b) throws (1: BenchError err)" */
static void print_signature(const thrift_function_def_t *fn) {
    if (thrift_function_def_is_oneway(fn))
        printf("oneway ");
    printf("%s %s(", thrift_type_def_name(thrift_function_def_return_type(fn)),
           thrift_function_def_name(fn));
    print_fields(thrift_function_def_args(fn));
    printf(")");
    const thrift_struct_def_t *throws = thrift_function_def_throws(fn);
    if (throws && thrift_struct_def_field_count(throws)) {
        printf(" throws (");
        print_fields(throws);
        printf(")");
    }
}

static void describe_method(const thrift_service_def_t *svc, const thrift_function_def_t *fn,
                            bool template_only) {
    json_t *args = template_of(thrift_struct_def_type(thrift_function_def_args(fn)), 4);
    if (template_only) {
        print_template(args);
        json_decref(args);
        return;
    }
    printf("%s.%s", thrift_service_def_name(svc), thrift_function_def_name(fn));
    if (thrift_function_def_service(fn) != svc)
        printf(" (inherited from %s)",
               thrift_service_def_name(thrift_function_def_service(fn)));
    printf("\n");
    print_doc("  ", thrift_function_def_doc(fn));
    printf("  ");
    print_signature(fn);
    printf("\n");
    if (thrift_function_def_is_oneway(fn))
        printf("  oneway: the call is done once sent; no reply, no exception\n");
    const thrift_struct_def_t *ad = thrift_function_def_args(fn);
    for (size_t i = 0; i < thrift_struct_def_field_count(ad); i++) {
        const thrift_field_def_t *f = thrift_struct_def_field_at(ad, i);
        if (thrift_field_def_doc(f)) {
            printf("  %s:\n", thrift_field_def_name(f));
            print_doc("    ", thrift_field_def_doc(f));
        }
    }
    printf("arguments (JSON template):\n");
    print_template(args);
    json_decref(args);
}

static void describe_service(const thrift_service_def_t *svc) {
    printf("service %s", thrift_service_def_name(svc));
    if (thrift_service_def_parent(svc))
        printf(" extends %s", thrift_service_def_name(thrift_service_def_parent(svc)));
    printf("\n");
    print_doc("  ", thrift_service_def_doc(svc));
    for (const thrift_service_def_t *s = svc; s; s = thrift_service_def_parent(s))
        for (size_t i = 0; i < thrift_service_def_function_count(s); i++) {
            const thrift_function_def_t *fn = thrift_service_def_function_at(s, i);
            // A nearer service's method of the same name wins.
            if (thrift_service_def_find_function(svc, thrift_function_def_name(fn)) != fn)
                continue;
            print_doc("  ", thrift_function_def_doc(fn));
            printf("  ");
            print_signature(fn);
            if (s != svc)
                printf("  (from %s)", thrift_service_def_name(s));
            printf("\n");
        }
}

static int describe_type(const thrift_type_def_t *t, const char *name, bool template_only) {
    const thrift_type_def_t *r = thrift_type_def_resolved(t);
    thrift_kind_t k = thrift_type_def_kind(r);
    json_t *tmpl = template_of(r, 4);
    if (template_only) {
        print_template(tmpl);
        json_decref(tmpl);
        return CLI_EXIT_OK;
    }
    if (thrift_type_def_kind(t) == THRIFT_KIND_TYPEDEF)
        printf("typedef %s = %s\n", name, thrift_type_def_name(r));
    if (k == THRIFT_KIND_ENUM) {
        const thrift_enum_def_t *e = thrift_type_def_enum(r);
        printf("enum %s\n", thrift_enum_def_name(e));
        print_doc("  ", thrift_enum_def_doc(e));
        for (size_t i = 0; i < thrift_enum_def_value_count(e); i++) {
            const thrift_enum_value_def_t *v = thrift_enum_def_value_at(e, i);
            print_doc("  ", thrift_enum_value_def_doc(v));
            printf("  %s = %d\n", thrift_enum_value_def_name(v), (int)thrift_enum_value_def_number(v));
        }
    } else if (k == THRIFT_KIND_STRUCT || k == THRIFT_KIND_UNION || k == THRIFT_KIND_EXCEPTION) {
        const thrift_struct_def_t *s = thrift_type_def_struct(r);
        printf("%s %s\n", k == THRIFT_KIND_UNION ? "union" : k == THRIFT_KIND_EXCEPTION ? "exception" : "struct",
               thrift_struct_def_name(s));
        print_doc("  ", thrift_struct_def_doc(s));
        for (size_t i = 0; i < thrift_struct_def_field_count(s); i++) {
            const thrift_field_def_t *f = thrift_struct_def_field_at(s, i);
            print_doc("  ", thrift_field_def_doc(f));
            printf("  %d: %s%s %s\n", thrift_field_def_id(f),
                   req_prefix(thrift_field_def_requiredness(f)),
                   thrift_type_def_name(thrift_field_def_type(f)), thrift_field_def_name(f));
        }
    }
    printf("JSON template:\n");
    print_template(tmpl);
    json_decref(tmpl);
    return CLI_EXIT_OK;
}

/* ---- commands --------------------------------------------------------------- */

/* The shared option loop: -I, --help, and up to two positionals.  Returns
 * -1 to go on, or an exit code. */
static int parse(int argc, char **argv, const char *cmd, const char *usage_text,
                 cli_include_dirs_t *inc, const char *pos[2], int *npos, bool *template_only) {
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int r;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            fputs(usage_text, stdout);
            return CLI_EXIT_OK;
        }
        if ((r = cli_take_include_opt(argc, argv, &i, cmd, inc)) != 0) {
            if (r < 0)
                goto usage;
            continue;
        }
        if (template_only && !strcmp(a, "--template")) {
            *template_only = true;
            continue;
        }
        if (a[0] == '-' && a[1]) {
            fprintf(stderr, "dynthrift %s: unknown option '%s'\n", cmd, a);
            goto usage;
        }
        if (*npos == 2) {
            fprintf(stderr, "dynthrift %s: unexpected argument '%s'\n", cmd, a);
            goto usage;
        }
        pos[(*npos)++] = a;
    }
    return -1;
usage:
    fprintf(stderr, "try 'dynthrift %s --help'\n", cmd);
    return CLI_EXIT_USAGE;
}

static thrift_schema_t *load(const char *cmd, const char *file, const cli_include_dirs_t *inc,
                             int *code) {
    thrift_error_t err;
    thrift_error_clear(&err);
    thrift_schema_t *schema = cli_load_schema(file, inc, &err);
    if (!schema) {
        fprintf(stderr, "dynthrift %s: ", cmd);
        cli_print_error(stderr, &err);
        *code = cli_exit_code(err.code != THRIFT_OK ? err.code : THRIFT_INVALID);
    }
    return schema;
}

int cmd_list(int argc, char **argv) {
    cli_include_dirs_t inc = {0};
    const char *pos[2] = {0};
    int npos = 0;
    int code = parse(argc, argv, "list", list_usage, &inc, pos, &npos, NULL);
    if (code >= 0)
        goto done;
    if (npos < 1) {
        fprintf(stderr, "dynthrift list: FILE is required\ntry 'dynthrift list --help'\n");
        code = CLI_EXIT_USAGE;
        goto done;
    }
    code = CLI_EXIT_OK;
    thrift_schema_t *schema = load("list", pos[0], &inc, &code);
    if (!schema)
        goto done;
    if (npos == 1) {
        const thrift_module_def_t *main_m = thrift_schema_main_module(schema);
        for (size_t mi = 0; mi < thrift_schema_module_count(schema); mi++) {
            const thrift_module_def_t *m = thrift_schema_module_at(schema, mi);
            for (size_t i = 0; i < thrift_module_def_service_count(m); i++) {
                const thrift_service_def_t *s = thrift_module_def_service_at(m, i);
                if (m == main_m)
                    printf("%s\n", thrift_service_def_name(s));
                else
                    printf("%s.%s\n", thrift_module_def_name(m), thrift_service_def_name(s));
            }
        }
    } else {
        const thrift_service_def_t *svc;
        const thrift_function_def_t *fn;
        code = cli_split_service_method("list", schema, pos[1], true, &svc, &fn);
        if (!code) {
            if (fn) {
                fprintf(stderr, "dynthrift list: give a SERVICE, not a method ('%s'; see "
                                "`dynthrift describe`)\n",
                        pos[1]);
                code = CLI_EXIT_USAGE;
            } else {
                // As the user named it, so the lines paste into `call`.
                for (const thrift_service_def_t *s = svc; s; s = thrift_service_def_parent(s))
                    for (size_t i = 0; i < thrift_service_def_function_count(s); i++) {
                        const thrift_function_def_t *f = thrift_service_def_function_at(s, i);
                        if (thrift_service_def_find_function(svc, thrift_function_def_name(f)) == f)
                            printf("%s.%s\n", pos[1], thrift_function_def_name(f));
                    }
            }
        }
    }
    thrift_schema_unref(schema);
done:
    cli_include_dirs_free(&inc);
    return code;
}

int cmd_describe(int argc, char **argv) {
    cli_include_dirs_t inc = {0};
    const char *pos[2] = {0};
    int npos = 0;
    bool template_only = false;
    int code = parse(argc, argv, "describe", describe_usage, &inc, pos, &npos, &template_only);
    if (code >= 0)
        goto done;
    if (npos < 2) {
        fprintf(stderr, "dynthrift describe: FILE and SERVICE.METHOD, SERVICE or TYPE are "
                        "required\ntry 'dynthrift describe --help'\n");
        code = CLI_EXIT_USAGE;
        goto done;
    }
    code = CLI_EXIT_OK;
    thrift_schema_t *schema = load("describe", pos[0], &inc, &code);
    if (!schema)
        goto done;
    const char *name = pos[1];
    const thrift_service_def_t *svc = thrift_schema_find_service(schema, name);
    const thrift_type_def_t *type = svc ? NULL : thrift_schema_find_type(schema, name);
    if (svc) {
        if (template_only) {
            fprintf(stderr, "dynthrift describe: --template needs SERVICE.METHOD or a TYPE\n");
            code = CLI_EXIT_USAGE;
        } else {
            describe_service(svc);
        }
    } else if (type) {
        code = describe_type(type, name, template_only);
    } else {
        const thrift_function_def_t *fn;
        const char *dot = strrchr(name, '.');
        char sname[256];
        size_t n = dot ? (size_t)(dot - name) : 0;
        if (dot && n < sizeof sname) {
            memcpy(sname, name, n);
            sname[n] = 0;
        }
        if (dot && n < sizeof sname && thrift_schema_find_service(schema, sname)) {
            // The service exists: cli_split_service_method lists its methods.
            code = cli_split_service_method("describe", schema, name, false, &svc, &fn);
            if (!code)
                describe_method(svc, fn, template_only);
        } else {
            fprintf(stderr, "dynthrift describe: no service, method or type '%s' in %s "
                            "(see `dynthrift list %s`)\n",
                    name, pos[0], pos[0]);
            code = CLI_EXIT_USAGE;
        }
    }
    thrift_schema_unref(schema);
done:
    cli_include_dirs_free(&inc);
    return code;
}
