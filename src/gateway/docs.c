/* The gateway's two documents, built once per gateway with jansson:
 *   GET /schema        what the web UI builds its forms from;
 *   GET /openapi.json  an OpenAPI 3.0.3 description of every method. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "dynthrift/gateway.h"
#include "dynthrift/json.h"

static const char *req_name(thrift_requiredness_t r) {
    return r == THRIFT_REQ_REQUIRED ? "required" : r == THRIFT_REQ_OPTIONAL ? "optional" : "default";
}

/* How a URL names a service: by its name in the main module, by
 * "module.Name" in an included one (what thrift_schema_find_service takes). */
static const char *service_path_name(const thrift_schema_t *schema, const thrift_service_def_t *svc) {
    return thrift_service_def_module(svc) == thrift_schema_main_module(schema)
               ? thrift_service_def_name(svc)
               : thrift_service_def_full_name(svc);
}

/* A doc comment without the blank lines and spaces around it. */
static json_t *doc_text(const char *doc) {
    while (*doc == ' ' || *doc == '\n' || *doc == '\t' || *doc == '\r')
        doc++;
    size_t n = strlen(doc);
    while (n && (doc[n - 1] == ' ' || doc[n - 1] == '\n' || doc[n - 1] == '\t' || doc[n - 1] == '\r'))
        n--;
    return json_stringn(doc, n);
}

static void set_doc(json_t *o, const char *doc) {
    if (doc && *doc)
        json_object_set_new(o, "doc", doc_text(doc));
}

/* ---- /schema ---------------------------------------------------------------
 * A type: {"kind": "i32"}, {"kind": "list", "elem": T},
 * {"kind": "map", "key": T, "value": T}, {"kind": "struct", "ref":
 * "module.Name"} (also union, exception, enum); "name" is the IDL spelling
 * (a typedef's name included). */
static json_t *type_json(const thrift_type_def_t *t) {
    const thrift_type_def_t *r = thrift_type_def_resolved(t);
    thrift_kind_t k = thrift_type_def_kind(r);
    json_t *o = json_object();
    json_object_set_new(o, "kind", json_string(thrift_kind_name(k)));
    json_object_set_new(o, "name", json_string(thrift_type_def_name(t)));
    switch (k) {
    case THRIFT_KIND_LIST:
    case THRIFT_KIND_SET:
        json_object_set_new(o, "elem", type_json(thrift_type_def_elem(r)));
        break;
    case THRIFT_KIND_MAP:
        json_object_set_new(o, "key", type_json(thrift_type_def_key(r)));
        json_object_set_new(o, "value", type_json(thrift_type_def_value(r)));
        break;
    case THRIFT_KIND_STRUCT:
    case THRIFT_KIND_UNION:
    case THRIFT_KIND_EXCEPTION:
        json_object_set_new(o, "ref", json_string(thrift_struct_def_full_name(thrift_type_def_struct(r))));
        break;
    case THRIFT_KIND_ENUM:
        json_object_set_new(o, "ref", json_string(thrift_enum_def_full_name(thrift_type_def_enum(r))));
        break;
    default:
        break;
    }
    return o;
}

/* The fields of `sd` with their defaults as JSON values (taken from a
 * freshly built struct, which holds the IDL defaults). */
static json_t *fields_json(const thrift_struct_def_t *sd, thrift_arena_t *arena) {
    json_t *arr = json_array();
    thrift_value_t *fresh = thrift_value_new_struct(arena, sd);
    for (size_t i = 0; i < thrift_struct_def_field_count(sd); i++) {
        const thrift_field_def_t *f = thrift_struct_def_field_at(sd, i);
        json_t *o = json_object();
        json_object_set_new(o, "id", json_integer(thrift_field_def_id(f)));
        json_object_set_new(o, "name", json_string(thrift_field_def_name(f)));
        json_object_set_new(o, "type", type_json(thrift_field_def_type(f)));
        json_object_set_new(o, "required", json_string(req_name(thrift_field_def_requiredness(f))));
        if (fresh && thrift_field_def_default(f) && thrift_value_has(fresh, thrift_field_def_name(f))) {
            json_t *d = thrift_json_from_value(thrift_value_get_at(fresh, i), 0, NULL);
            if (d)
                json_object_set_new(o, "default", d);
        }
        set_doc(o, thrift_field_def_doc(f));
        json_array_append_new(arr, o);
    }
    return arr;
}

static const char *struct_kind(const thrift_struct_def_t *sd) {
    return thrift_kind_name(thrift_struct_def_kind(sd));
}

char *thrift_gateway_schema_json(const thrift_schema_t *schema, thrift_error_t *err) {
    thrift_arena_t *arena = thrift_arena_new(NULL);
    json_t *root = json_object(), *services = json_array(), *structs = json_object(),
           *enums = json_object();
    if (!arena || !root || !services || !structs || !enums) {
        thrift_arena_free(arena);
        json_decref(root);
        json_decref(services);
        json_decref(structs);
        json_decref(enums);
        thrift__error_set(err, THRIFT_NOMEM, "out of memory");
        return NULL;
    }
    json_object_set_new(root, "services", services);
    json_object_set_new(root, "structs", structs);
    json_object_set_new(root, "enums", enums);
    for (size_t mi = 0; mi < thrift_schema_module_count(schema); mi++) {
        const thrift_module_def_t *m = thrift_schema_module_at(schema, mi);
        for (size_t i = 0; i < thrift_module_def_struct_count(m); i++) {
            const thrift_struct_def_t *sd = thrift_module_def_struct_at(m, i);
            json_t *o = json_object();
            json_object_set_new(o, "name", json_string(thrift_struct_def_name(sd)));
            json_object_set_new(o, "kind", json_string(struct_kind(sd)));
            set_doc(o, thrift_struct_def_doc(sd));
            json_object_set_new(o, "fields", fields_json(sd, arena));
            json_object_set_new(structs, thrift_struct_def_full_name(sd), o);
        }
        for (size_t i = 0; i < thrift_module_def_enum_count(m); i++) {
            const thrift_enum_def_t *ed = thrift_module_def_enum_at(m, i);
            json_t *o = json_object(), *vals = json_array();
            json_object_set_new(o, "name", json_string(thrift_enum_def_name(ed)));
            set_doc(o, thrift_enum_def_doc(ed));
            for (size_t j = 0; j < thrift_enum_def_value_count(ed); j++) {
                const thrift_enum_value_def_t *v = thrift_enum_def_value_at(ed, j);
                json_t *vo = json_object();
                json_object_set_new(vo, "name", json_string(thrift_enum_value_def_name(v)));
                json_object_set_new(vo, "value", json_integer(thrift_enum_value_def_number(v)));
                set_doc(vo, thrift_enum_value_def_doc(v));
                json_array_append_new(vals, vo);
            }
            json_object_set_new(o, "values", vals);
            json_object_set_new(enums, thrift_enum_def_full_name(ed), o);
        }
        for (size_t i = 0; i < thrift_module_def_service_count(m); i++) {
            const thrift_service_def_t *svc = thrift_module_def_service_at(m, i);
            json_t *so = json_object(), *methods = json_array();
            json_object_set_new(so, "name", json_string(thrift_service_def_name(svc)));
            json_object_set_new(so, "full_name", json_string(thrift_service_def_full_name(svc)));
            json_object_set_new(so, "path", json_sprintf("/%s", service_path_name(schema, svc)));
            if (thrift_service_def_parent(svc))
                json_object_set_new(so, "extends",
                                    json_string(thrift_service_def_full_name(thrift_service_def_parent(svc))));
            set_doc(so, thrift_service_def_doc(svc));
            // Inherited methods too, nearest first, as a client sees them.
            for (const thrift_service_def_t *s = svc; s; s = thrift_service_def_parent(s)) {
                for (size_t j = 0; j < thrift_service_def_function_count(s); j++) {
                    const thrift_function_def_t *fn = thrift_service_def_function_at(s, j);
                    if (thrift_service_def_find_function(svc, thrift_function_def_name(fn)) != fn)
                        continue; // overridden nearer
                    json_t *fo = json_object();
                    json_object_set_new(fo, "name", json_string(thrift_function_def_name(fn)));
                    json_object_set_new(fo, "oneway", json_boolean(thrift_function_def_is_oneway(fn)));
                    json_object_set_new(fo, "args", fields_json(thrift_function_def_args(fn), arena));
                    json_object_set_new(fo, "returns", type_json(thrift_function_def_return_type(fn)));
                    json_object_set_new(fo, "throws", fields_json(thrift_function_def_throws(fn), arena));
                    if (s != svc)
                        json_object_set_new(fo, "from", json_string(thrift_service_def_full_name(s)));
                    set_doc(fo, thrift_function_def_doc(fn));
                    json_array_append_new(methods, fo);
                }
            }
            json_object_set_new(so, "methods", methods);
            json_array_append_new(services, so);
        }
    }
    char *text = json_dumps(root, JSON_INDENT(1) | JSON_PRESERVE_ORDER);
    json_decref(root);
    thrift_arena_free(arena);
    if (!text)
        thrift__error_set(err, THRIFT_NOMEM, "out of memory");
    return text;
}

/* ---- /openapi.json ---------------------------------------------------------- */

static json_t *ref_to(const char *full_name) {
    json_t *o = json_object();
    json_object_set_new(o, "$ref", json_sprintf("#/components/schemas/%s", full_name));
    return o;
}

static json_t *int_schema(const char *format, json_int_t min, json_int_t max) {
    json_t *o = json_pack("{s:s, s:s}", "type", "integer", "format", format);
    if (min || max) {
        json_object_set_new(o, "minimum", json_integer(min));
        json_object_set_new(o, "maximum", json_integer(max));
    }
    return o;
}

static json_t *oa_type(const thrift_type_def_t *t) {
    const thrift_type_def_t *r = thrift_type_def_resolved(t);
    switch (thrift_type_def_kind(r)) {
    case THRIFT_KIND_BOOL:
        return json_pack("{s:s}", "type", "boolean");
    case THRIFT_KIND_I8:
        return int_schema("int32", -128, 127);
    case THRIFT_KIND_I16:
        return int_schema("int32", -32768, 32767);
    case THRIFT_KIND_I32:
        return int_schema("int32", 0, 0);
    case THRIFT_KIND_I64:
        return int_schema("int64", 0, 0);
    case THRIFT_KIND_DOUBLE:
        return json_pack("{s:s, s:s}", "type", "number", "format", "double");
    case THRIFT_KIND_STRING:
        return json_pack("{s:s}", "type", "string");
    case THRIFT_KIND_BINARY:
        return json_pack("{s:s, s:s}", "type", "string", "format", "byte");
    case THRIFT_KIND_UUID:
        return json_pack("{s:s, s:s}", "type", "string", "format", "uuid");
    case THRIFT_KIND_ENUM:
        return ref_to(thrift_enum_def_full_name(thrift_type_def_enum(r)));
    case THRIFT_KIND_LIST:
        return json_pack("{s:s, s:o}", "type", "array", "items", oa_type(thrift_type_def_elem(r)));
    case THRIFT_KIND_SET:
        return json_pack("{s:s, s:o, s:b}", "type", "array", "items",
                         oa_type(thrift_type_def_elem(r)), "uniqueItems", 1);
    case THRIFT_KIND_MAP: {
        const thrift_type_def_t *k = thrift_type_def_resolved(thrift_type_def_key(r));
        thrift_kind_t kk = thrift_type_def_kind(k);
        if (kk == THRIFT_KIND_STRING || kk == THRIFT_KIND_ENUM || kk == THRIFT_KIND_I8 ||
            kk == THRIFT_KIND_I16 || kk == THRIFT_KIND_I32 || kk == THRIFT_KIND_I64)
            return json_pack("{s:s, s:o}", "type", "object", "additionalProperties",
                             oa_type(thrift_type_def_value(r)));
        // Other keys: [key, value] pairs (OpenAPI 3.0 has no tuples).
        json_t *pair = json_pack("{s:s, s:i, s:i, s:{s:[o, o]}}", "type", "array", "minItems", 2,
                                 "maxItems", 2, "items", "oneOf", oa_type(thrift_type_def_key(r)),
                                 oa_type(thrift_type_def_value(r)));
        return json_pack("{s:s, s:o}", "type", "array", "items", pair);
    }
    case THRIFT_KIND_STRUCT:
    case THRIFT_KIND_UNION:
    case THRIFT_KIND_EXCEPTION:
        return ref_to(thrift_struct_def_full_name(thrift_type_def_struct(r)));
    default:
        return json_object();
    }
}

/* An object schema of `sd`'s fields (a struct's component, an args body). */
static json_t *oa_object(const thrift_struct_def_t *sd, thrift_arena_t *arena) {
    json_t *o = json_pack("{s:s}", "type", "object"), *props = json_object(),
           *required = json_array();
    thrift_value_t *fresh = thrift_value_new_struct(arena, sd);
    for (size_t i = 0; i < thrift_struct_def_field_count(sd); i++) {
        const thrift_field_def_t *f = thrift_struct_def_field_at(sd, i);
        json_t *p = oa_type(thrift_field_def_type(f));
        const char *doc = thrift_field_def_doc(f);
        // Siblings of $ref are ignored in 3.0: wrap it to keep doc/default.
        bool want_extra = (doc && *doc) || thrift_field_def_default(f);
        if (want_extra && json_object_get(p, "$ref")) {
            json_t *w = json_object();
            json_object_set_new(w, "allOf", json_pack("[o]", p));
            p = w;
        }
        if (doc && *doc)
            json_object_set_new(p, "description", doc_text(doc));
        if (fresh && thrift_field_def_default(f) && thrift_value_has(fresh, thrift_field_def_name(f))) {
            json_t *d = thrift_json_from_value(thrift_value_get_at(fresh, i), 0, NULL);
            if (d)
                json_object_set_new(p, "default", d);
        }
        json_object_set_new(props, thrift_field_def_name(f), p);
        if (thrift_field_def_requiredness(f) == THRIFT_REQ_REQUIRED)
            json_array_append_new(required, json_string(thrift_field_def_name(f)));
    }
    json_object_set_new(o, "properties", props);
    if (json_array_size(required))
        json_object_set_new(o, "required", required);
    else
        json_decref(required);
    json_object_set_new(o, "additionalProperties", json_false());
    if (thrift_struct_def_kind(sd) == THRIFT_KIND_UNION) {
        json_object_set_new(o, "minProperties", json_integer(1));
        json_object_set_new(o, "maxProperties", json_integer(1));
    }
    const char *doc = thrift_struct_def_doc(sd);
    if (doc && *doc)
        json_object_set_new(o, "description", doc_text(doc));
    return o;
}

static json_t *json_content(json_t *schema) {
    return json_pack("{s:{s:o}}", "application/json", "schema", schema);
}

static json_t *error_response(const char *description) {
    json_t *r = json_pack("{s:s}", "description", description);
    json_object_set_new(r, "content", json_content(ref_to("dynthrift.GatewayError")));
    return r;
}

static json_t *oa_operation(const thrift_service_def_t *svc, const thrift_function_def_t *fn,
                            thrift_arena_t *arena) {
    json_t *op = json_object();
    json_object_set_new(op, "operationId", json_sprintf("%s_%s", thrift_service_def_name(svc),
                                                        thrift_function_def_name(fn)));
    json_object_set_new(op, "tags", json_pack("[s]", thrift_service_def_name(svc)));
    const char *doc = thrift_function_def_doc(fn);
    json_object_set_new(op, "summary", json_sprintf("%s.%s", thrift_service_def_name(svc),
                                                    thrift_function_def_name(fn)));
    if (doc && *doc)
        json_object_set_new(op, "description", doc_text(doc));
    json_t *body = json_pack("{s:b, s:s}", "required", 0, "description",
                             "the arguments by name (or by position as an array; "
                             "an empty body means none)");
    json_object_set_new(body, "content", json_content(oa_object(thrift_function_def_args(fn), arena)));
    json_object_set_new(op, "requestBody", body);

    json_t *responses = json_object();
    if (thrift_function_def_is_oneway(fn)) {
        json_object_set_new(responses, "202",
                            json_pack("{s:s, s:o}", "description", "oneway: the request was sent",
                                      "content", json_content(json_pack("{s:s}", "type", "object"))));
    } else {
        const thrift_type_def_t *rt = thrift_function_def_return_type(fn);
        bool is_void = thrift_type_def_kind(thrift_type_def_resolved(rt)) == THRIFT_KIND_VOID;
        json_t *result_schema = is_void ? json_pack("{s:b}", "nullable", 1) : oa_type(rt);
        json_t *ok = json_pack("{s:s, s:{s:o}, s:[s]}", "type", "object", "properties", "result",
                               result_schema, "required", "result");
        const thrift_struct_def_t *throws = thrift_function_def_throws(fn);
        json_t *schema = ok;
        if (throws && thrift_struct_def_field_count(throws) > 0) {
            json_t *one_of = json_array();
            json_array_append_new(one_of, ok);
            for (size_t i = 0; i < thrift_struct_def_field_count(throws); i++) {
                const thrift_field_def_t *f = thrift_struct_def_field_at(throws, i);
                const thrift_type_def_t *et = thrift_type_def_resolved(thrift_field_def_type(f));
                const char *ename = thrift_struct_def_name(thrift_type_def_struct(et));
                json_array_append_new(
                    one_of, json_pack("{s:s, s:{s:{s:s, s:[s]}, s:o}, s:[s, s]}", "type", "object",
                                      "properties", "exception", "type", "string", "enum", ename,
                                      "value", oa_type(thrift_field_def_type(f)), "required",
                                      "exception", "value"));
            }
            schema = json_pack("{s:o}", "oneOf", one_of);
        }
        json_object_set_new(responses, "200",
                            json_pack("{s:s, s:o}", "description",
                                      "the result, or a declared exception (header "
                                      "X-Thrift-Exception names it)",
                                      "content", json_content(schema)));
    }
    json_object_set_new(responses, "400", error_response("bad JSON or arguments (path names the value)"));
    json_object_set_new(responses, "502", error_response("TApplicationException or a bad reply"));
    json_object_set_new(responses, "503", error_response("the upstream server cannot be reached"));
    json_object_set_new(responses, "504", error_response("the upstream server did not answer in time"));
    json_object_set_new(op, "responses", responses);
    return op;
}

char *thrift_gateway_openapi_json(const thrift_schema_t *schema, thrift_error_t *err) {
    thrift_arena_t *arena = thrift_arena_new(NULL);
    const thrift_module_def_t *main_module = thrift_schema_main_module(schema);
    json_t *root = json_object(), *paths = json_object(), *schemas = json_object();
    if (!arena || !root || !paths || !schemas) {
        thrift_arena_free(arena);
        json_decref(root);
        json_decref(paths);
        json_decref(schemas);
        thrift__error_set(err, THRIFT_NOMEM, "out of memory");
        return NULL;
    }
    json_object_set_new(root, "openapi", json_string("3.0.3"));
    json_t *info = json_pack("{s:s, s:s}", "title", thrift_module_def_name(main_module), "version",
                             "1.0.0");
    const char *mdoc = thrift_module_def_doc(main_module);
    json_object_set_new(info, "description",
                        doc_text(mdoc && *mdoc ? mdoc
                                                  : "Thrift services through the dynthrift gateway"));
    json_object_set_new(root, "info", info);
    json_object_set_new(root, "paths", paths);
    json_object_set_new(root, "components", json_pack("{s:o}", "schemas", schemas));
    json_object_set_new(
        schemas, "dynthrift.GatewayError",
        json_pack("{s:s, s:{s:{s:s, s:{s:{s:s}, s:{s:s}, s:{s:s}, s:{s:s}, s:{s:s}, s:{s:s}, "
                  "s:{s:s}}, s:[s, s]}}, s:[s]}",
                  "type", "object", "properties", "error", "type", "object", "properties",
                  "status", "type", "string", "message", "type", "string", "path", "type",
                  "string", "line", "type", "integer", "column", "type", "integer", "type", "type",
                  "string", "type_id", "type", "integer", "required", "status", "message",
                  "required", "error"));
    for (size_t mi = 0; mi < thrift_schema_module_count(schema); mi++) {
        const thrift_module_def_t *m = thrift_schema_module_at(schema, mi);
        for (size_t i = 0; i < thrift_module_def_struct_count(m); i++) {
            const thrift_struct_def_t *sd = thrift_module_def_struct_at(m, i);
            json_object_set_new(schemas, thrift_struct_def_full_name(sd), oa_object(sd, arena));
        }
        for (size_t i = 0; i < thrift_module_def_enum_count(m); i++) {
            const thrift_enum_def_t *ed = thrift_module_def_enum_at(m, i);
            json_t *names = json_array();
            for (size_t j = 0; j < thrift_enum_def_value_count(ed); j++)
                json_array_append_new(names, json_string(thrift_enum_value_def_name(
                                                 thrift_enum_def_value_at(ed, j))));
            json_t *o = json_pack("{s:s, s:o}", "type", "string", "enum", names);
            const char *doc = thrift_enum_def_doc(ed);
            if (doc && *doc)
                json_object_set_new(o, "description", doc_text(doc));
            json_object_set_new(schemas, thrift_enum_def_full_name(ed), o);
        }
        for (size_t i = 0; i < thrift_module_def_service_count(m); i++) {
            const thrift_service_def_t *svc = thrift_module_def_service_at(m, i);
            for (const thrift_service_def_t *s = svc; s; s = thrift_service_def_parent(s))
                for (size_t j = 0; j < thrift_service_def_function_count(s); j++) {
                    const thrift_function_def_t *fn = thrift_service_def_function_at(s, j);
                    if (thrift_service_def_find_function(svc, thrift_function_def_name(fn)) != fn)
                        continue;
                    json_t *path = json_object();
                    json_object_set_new(path, "post", oa_operation(svc, fn, arena));
                    char key[600];
                    snprintf(key, sizeof key, "/%s/%s", service_path_name(schema, svc),
                             thrift_function_def_name(fn));
                    json_object_set_new(paths, key, path);
                }
        }
    }
    char *text = json_dumps(root, JSON_INDENT(1) | JSON_PRESERVE_ORDER);
    json_decref(root);
    thrift_arena_free(arena);
    if (!text)
        thrift__error_set(err, THRIFT_NOMEM, "out of memory");
    return text;
}
