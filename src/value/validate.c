/* Validation of value trees against their types, with value paths. */
#include <stdio.h>

#include "value/value_impl.h"

static bool enum_has(const thrift_enum_def_t *e, int32_t n) {
    if (e->by_number) {
        uint32_t lo = 0, hi = e->value_count;
        while (lo < hi) {
            uint32_t mid = lo + (hi - lo) / 2;
            int32_t m = e->by_number[mid]->number;
            if (m == n)
                return true;
            if (m < n)
                lo = mid + 1;
            else
                hi = mid;
        }
        return false;
    }
    for (uint32_t i = 0; i < e->value_count; i++)
        if (e->values[i].number == n)
            return true;
    return false;
}

static const char *type_name(const thrift_type_def_t *t) {
    return t->name ? t->name : thrift__kind_name(t->kind);
}

static thrift_status_t validate(const thrift_value_t *v,
                                const thrift_type_def_t *expect,
                                unsigned flags, thrift_error_t *err);

static thrift_status_t validate_items(const thrift_value_t *v,
                                      const thrift_type_def_t *t,
                                      unsigned flags, thrift_error_t *err) {
    char ix[24];
    if (t->kind == THRIFT_KIND_MAP) {
        for (uint32_t i = 0; i < v->count; i++) {
            thrift_status_t st =
                validate(&v->u.c.items[2 * i], t->key, flags, err);
            if (st == THRIFT_OK)
                st = validate(&v->u.c.items[2 * i + 1], t->value, flags, err);
            if (st != THRIFT_OK) {
                snprintf(ix, sizeof ix, "%u", i);
                thrift__error_path_prepend(err, ix, true);
                return st;
            }
        }
        return THRIFT_OK;
    }
    for (uint32_t i = 0; i < v->count; i++) {
        thrift_status_t st = validate(&v->u.c.items[i], t->elem, flags, err);
        if (st != THRIFT_OK) {
            snprintf(ix, sizeof ix, "%u", i);
            thrift__error_path_prepend(err, ix, true);
            return st;
        }
    }
    return THRIFT_OK;
}

static thrift_status_t validate_struct(const thrift_value_t *v,
                                       unsigned flags, thrift_error_t *err) {
    const thrift_struct_def_t *sd = v->type->struct_def;
    uint32_t set = 0;
    for (uint32_t i = 0; i < sd->field_count; i++) {
        const thrift_field_def_t *f = &sd->fields[i];
        const thrift_value_t *slot = &v->u.s.slots[i];
        if (!(slot->flags & THRIFT__VALUE_SET)) {
            if (f->req == THRIFT_REQ_REQUIRED) {
                thrift__error_set(err, THRIFT_MISSING,
                                  "required field missing");
                thrift__error_path_prepend(err, f->name, false);
                return THRIFT_MISSING;
            }
            continue;
        }
        set++;
        thrift_status_t st = validate(slot, f->type, flags, err);
        if (st != THRIFT_OK) {
            thrift__error_path_prepend(err, f->name, false);
            return st;
        }
    }
    if (v->kind == THRIFT_KIND_UNION && set != 1)
        return thrift__error_set(err, THRIFT_INVALID,
                                 "union %s has %u fields set, expected exactly one",
                                 sd->name, set);
    return THRIFT_OK;
}

static thrift_status_t validate(const thrift_value_t *v,
                                const thrift_type_def_t *expect,
                                unsigned flags, thrift_error_t *err) {
    const thrift_type_def_t *t = expect ? expect->resolved : v->type;
    if (v->kind != t->kind || !v->type || !thrift__type_compatible(t, v->type))
        return thrift__error_set(err, THRIFT_TYPE, "expected %s, got %s",
                                 type_name(t),
                                 v->type && v->kind != t->kind
                                     ? thrift__kind_name(v->kind)
                                     : (v->type ? type_name(v->type)
                                                : thrift__kind_name(v->kind)));
    switch (t->kind) {
    case THRIFT_KIND_I8:
    case THRIFT_KIND_I16:
    case THRIFT_KIND_I32:
        if (!thrift__int_fits(t->kind, v->u.i))
            return thrift__error_set(err, THRIFT_RANGE,
                                     "%lld out of range for %s",
                                     (long long)v->u.i, thrift__kind_name(t->kind));
        return THRIFT_OK;
    case THRIFT_KIND_ENUM:
        if (!thrift__int_fits(t->kind, v->u.i))
            return thrift__error_set(err, THRIFT_RANGE,
                                     "%lld out of range for enum %s",
                                     (long long)v->u.i, type_name(t));
        if (!(flags & THRIFT_VALIDATE_ALLOW_UNKNOWN_ENUM) &&
            !enum_has(t->enum_def, (int32_t)v->u.i))
            return thrift__error_set(err, THRIFT_RANGE,
                                     "unknown value %lld for enum %s",
                                     (long long)v->u.i, type_name(t));
        return THRIFT_OK;
    case THRIFT_KIND_LIST:
    case THRIFT_KIND_SET:
    case THRIFT_KIND_MAP:
        return validate_items(v, t, flags, err);
    case THRIFT_KIND_STRUCT:
    case THRIFT_KIND_UNION:
    case THRIFT_KIND_EXCEPTION:
        return validate_struct(v, flags, err);
    default:
        return THRIFT_OK;
    }
}

thrift_status_t thrift_value_validate(const thrift_value_t *v, unsigned flags,
                                      thrift_error_t *err) {
    if (!v || !v->type)
        return thrift__error_set(err, THRIFT_MISUSE, "no value");
    thrift_status_t st = validate(v, NULL, flags, err);
    if (st != THRIFT_OK) {
        /* The root is named by its type: "Payload.users[3].address.zip". */
        const char *root = type_name(v->type);
        if (err && err->path[0])
            thrift__error_path_prepend(err, root, false);
        else if (err)
            snprintf(err->path, sizeof err->path, "%s", root);
    }
    return st;
}
