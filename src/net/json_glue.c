/* The JSON-string paths of the connection layer: call with JSON arguments,
 * read results as JSON, handle and reply with JSON.  Built on the mapping of
 * dynthrift/json.h. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>

#include "dynthrift/json.h"
#include "net/net_impl.h"
#include "value/value_impl.h"

thrift_value_t *thrift__call_blocking_fn(thrift_conn_t *c, const thrift_function_def_t *fn,
                                         const thrift_value_t *args, thrift_error_t *err);
thrift_status_t thrift__run_json_handler(thrift_request_t *req, thrift_json_handler_cb cb,
                                         const thrift_value_t *args, void *ud);

static bool json_blank(const char *s) {
    if (!s)
        return true;
    while (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r')
        s++;
    return *s == 0 || !strcmp(s, "null");
}

/* Declared in net_impl.h (the gateway reads arrays by position with it). */
thrift_value_t *thrift__args_from_json(const thrift_function_def_t *fn, thrift_arena_t *arena,
                                       const char *text, thrift_error_t *err) {
    const thrift_struct_def_t *ad = fn->args;
    if (json_blank(text)) {
        thrift_value_t *v = thrift_value_new_struct(arena, ad);
        if (!v)
            thrift__error_set(err, THRIFT_NOMEM, "out of memory");
        return v;
    }
    json_error_t jerr;
    json_t *j = json_loads(text, JSON_DECODE_ANY | JSON_ALLOW_NUL, &jerr);
    if (!j) {
        thrift__error_set(err, THRIFT_SYNTAX, "%s", jerr.text);
        thrift__error_set_source(err, "<json>");
        if (err) {
            err->line = jerr.line;
            err->column = jerr.column;
        }
        return NULL;
    }
    if (json_is_array(j)) {
        if (json_array_size(j) > ad->field_count) {
            thrift__error_set(err, THRIFT_RANGE, "%s takes %u arguments, got %zu", fn->name,
                              ad->field_count, json_array_size(j));
            json_decref(j);
            return NULL;
        }
        json_t *obj = json_object();
        for (size_t i = 0; obj && i < json_array_size(j); i++)
            if (!json_is_null(json_array_get(j, i)))
                json_object_set(obj, ad->fields[i].name, json_array_get(j, i));
        json_decref(j);
        j = obj;
        if (!j) {
            thrift__error_set(err, THRIFT_NOMEM, "out of memory");
            return NULL;
        }
    } else if (!json_is_object(j)) {
        json_decref(j);
        thrift__error_set(err, THRIFT_TYPE,
                          "%s: arguments must be a JSON object (by name) or array (by position)",
                          fn->name);
        return NULL;
    }
    thrift_value_t *v = thrift_json_to_value(arena, &ad->type, j, 0, err);
    json_decref(j);
    return v;
}

static const thrift_function_def_t *conn_fn(thrift_conn_t *c, const char *method,
                                            thrift_error_t *err) {
    const thrift_service_def_t *svc = thrift_conn_service(c);
    const thrift_function_def_t *fn = svc && method ? thrift_service_def_find_function(svc, method)
                                                    : NULL;
    if (!fn)
        thrift__error_set(err, THRIFT_NOT_FOUND, "no method '%s'", method ? method : "(null)");
    return fn;
}

char *thrift_result_json(const thrift_result_t *r, thrift_error_t *err) {
    const thrift_value_t *v = thrift_result_value(r);
    if (!v)
        return NULL;
    if (thrift_value_kind(v) == THRIFT_KIND_VOID) {
        char *s = malloc(5);
        if (s)
            memcpy(s, "null", 5);
        return s;
    }
    return thrift_json_dumps(v, 0, NULL, err);
}

char *thrift_call_json(thrift_conn_t *c, const char *method, const char *args_json,
                       thrift_error_t *err) {
    const thrift_function_def_t *fn = conn_fn(c, method, err);
    if (!fn)
        return NULL;
    thrift_arena_t *a = thrift_arena_new(NULL);
    if (!a) {
        thrift__error_set(err, THRIFT_NOMEM, "out of memory");
        return NULL;
    }
    thrift_value_t *args = thrift__args_from_json(fn, a, args_json, err);
    thrift_value_t *v = args ? thrift__call_blocking_fn(c, fn, args, err) : NULL;
    thrift_arena_free(a);
    if (!v)
        return NULL;
    return thrift_result_json(thrift_conn_last_result(c), err);
}

thrift_status_t thrift_call_async_json(thrift_conn_t *c, const char *method, const char *args_json,
                                       thrift_call_cb cb, void *ud, thrift_error_t *err) {
    const thrift_function_def_t *fn = conn_fn(c, method, err);
    if (!fn)
        return THRIFT_NOT_FOUND;
    thrift_arena_t *a = thrift_arena_new(NULL);
    if (!a)
        return thrift__error_set(err, THRIFT_NOMEM, "out of memory");
    thrift_value_t *args = thrift__args_from_json(fn, a, args_json, err);
    // The args are encoded inside the call, so the arena can go right after.
    thrift_status_t st = args ? thrift_call_async_ex(c, method, args, 0, cb, ud, err)
                              : (err && err->code ? err->code : THRIFT_INVALID);
    thrift_arena_free(a);
    return st;
}

thrift_status_t thrift__run_json_handler(thrift_request_t *req, thrift_json_handler_cb cb,
                                         const thrift_value_t *args, void *ud) {
    // A local error struct: the request's own is made only when needed.
    thrift_error_t err;
    thrift_error_clear(&err);
    char *text = thrift_json_dumps(args, 0, NULL, &err);
    if (!text) {
        thrift_error_t *re = thrift_request_error(req);
        if (re)
            *re = err;
        return err.code ? err.code : THRIFT_INVALID;
    }
    thrift_status_t st = cb(req, text, ud);
    thrift_json_text_free(text);
    return st;
}

thrift_status_t thrift_reply_json(thrift_request_t *req, const char *value_json) {
    const thrift_function_def_t *fn = thrift_request_function(req);
    if (!fn)
        return THRIFT_MISUSE;
    if (thrift_request_is_cancelled(req))
        return thrift_reply(req, NULL); // nothing to parse into: let go
    const thrift_type_def_t *rt = fn->return_type;
    if (rt->resolved->kind == THRIFT_KIND_VOID || json_blank(value_json))
        return thrift_reply(req, NULL);
    thrift_error_t err;
    thrift_error_clear(&err);
    thrift_value_t *v = thrift_json_loads(thrift_request_arena(req), rt, value_json,
                                          strlen(value_json), 0, &err);
    if (!v) {
        char msg[400];
        snprintf(msg, sizeof msg, "%s: bad reply JSON: %s", fn->name, err.text);
        thrift_reply_error(req, THRIFT_APPEX_INTERNAL_ERROR, msg);
        return err.code ? err.code : THRIFT_INVALID;
    }
    return thrift_reply(req, v);
}

thrift_status_t thrift_reply_exception_json(thrift_request_t *req, const char *name,
                                            const char *exception_json) {
    const thrift_function_def_t *fn = thrift_request_function(req);
    if (!fn || !name)
        return THRIFT_MISUSE;
    if (thrift_request_is_cancelled(req))
        return thrift_reply_exception(req, name, NULL); // let go
    const thrift_struct_def_t *rd = fn->result;
    const thrift_field_def_t *field = NULL;
    for (uint32_t i = 0; i < rd->field_count && !field; i++) {
        const thrift_field_def_t *f = &rd->fields[i];
        const thrift_struct_def_t *xd = f->type->resolved->struct_def;
        if (f->id != 0 && (!strcmp(f->name, name) || (xd && !strcmp(xd->name, name))))
            field = f;
    }
    if (!field)
        return thrift_reply_exception(req, name, NULL);
    thrift_error_t err;
    thrift_error_clear(&err);
    const char *text = exception_json ? exception_json : "{}";
    thrift_value_t *v =
        thrift_json_loads(thrift_request_arena(req), field->type, text, strlen(text), 0, &err);
    if (!v) {
        char msg[400];
        snprintf(msg, sizeof msg, "%s: bad exception JSON: %s", fn->name, err.text);
        thrift_reply_error(req, THRIFT_APPEX_INTERNAL_ERROR, msg);
        return err.code ? err.code : THRIFT_INVALID;
    }
    return thrift_reply_exception(req, name, v);
}
