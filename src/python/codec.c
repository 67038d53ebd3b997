/* Python objects <-> dynthrift values <-> wire bytes, in C.
 *
 * Encoding walks a struct instance with its class's plan, checking every
 * value against the schema as it builds the value tree in an arena, then
 * thrift_encode writes it (JSON; binary and compact go straight from the
 * objects to a thrift_writer_t).  A failure names the value path
 * ("Payload.users[3].address.zip: ...") and raises TypeError, ValueError or
 * OverflowError.  Decoding binary and compact builds the instances straight
 * from a thrift_reader_t; JSON is thrift_decode (strings alias the input)
 * and a walk over the value tree. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "codec.h"

static PyObject *uuid_class;    /* uuid.UUID, imported on first use */
static PyObject *deepcopy_func; /* copy.deepcopy */
static PyObject *str_bytes;     /* "bytes" */

/* One arena and one buffer reused by every call (the GIL serializes them);
 * a nested call (Python code run during an encode that encodes) gets its
 * own. */
static thrift_arena_t *shared_arena;
static thrift_buffer_t *shared_buffer;
static bool shared_busy;

/* ---- errors with value paths ------------------------------------------------- */

void py_path_init(py_path_t *pp) {
    pp->start = sizeof pp->buf - 1;
    pp->buf[pp->start] = '\0';
    pp->exc = NULL;
    pp->msg[0] = '\0';
}

/* Python's formatter, for %R and %S; never fails (falls back to "?"). */
static void format_py(char *out, size_t size, const char *fmt, va_list ap) {
    PyObject *et, *ev, *etb;
    PyErr_Fetch(&et, &ev, &etb);
    PyObject *s = PyUnicode_FromFormatV(fmt, ap);
    Py_ssize_t n = 0;
    const char *u = s ? PyUnicode_AsUTF8AndSize(s, &n) : NULL;
    if (!u) {
        PyErr_Clear();
        u = "?";
        n = 1;
    }
    size_t len = (size_t)n < size ? (size_t)n : size - 1;
    memcpy(out, u, len);
    out[len] = '\0';
    Py_XDECREF(s);
    PyErr_Restore(et, ev, etb);
}

void py_path_push(py_path_t *pp, const char *fmt, ...) {
    char seg[128];
    va_list ap;
    va_start(ap, fmt);
    format_py(seg, sizeof seg, fmt, ap);
    va_end(ap);
    size_t len = strlen(seg);
    if (len > pp->start) /* too deep to name: keep the innermost part */
        return;
    pp->start -= len;
    memcpy(pp->buf + pp->start, seg, len);
}

/* Records the failure at the innermost level; levels on the way out add
 * their path segment. */
int py_path_fail(py_path_t *pp, PyObject *exc, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    format_py(pp->msg, sizeof pp->msg, fmt, ap);
    va_end(ap);
    pp->exc = exc;
    return -1;
}

/* Turns a pending Python exception into the recorded failure. */
static int fail_from_pyerr(py_path_t *pp, PyObject *fallback) {
    PyObject *type, *value, *tb;
    PyErr_Fetch(&type, &value, &tb);
    PyErr_NormalizeException(&type, &value, &tb);
    PyObject *s = value ? PyObject_Str(value) : NULL;
    const char *text = s ? PyUnicode_AsUTF8(s) : NULL;
    PyErr_Clear();
    PyObject *exc = fallback;
    if (type && (PyErr_GivenExceptionMatches(type, PyExc_OverflowError) ||
                 PyErr_GivenExceptionMatches(type, PyExc_TypeError) ||
                 PyErr_GivenExceptionMatches(type, PyExc_ValueError)))
        exc = PyErr_GivenExceptionMatches(type, PyExc_OverflowError) ? PyExc_OverflowError
              : PyErr_GivenExceptionMatches(type, PyExc_TypeError)   ? PyExc_TypeError
                                                                      : PyExc_ValueError;
    if (type && PyErr_GivenExceptionMatches(type, PyExc_MemoryError))
        exc = PyExc_MemoryError;
    py_path_fail(pp, exc, "%s", text ? text : "error");
    Py_XDECREF(s);
    Py_XDECREF(type);
    Py_XDECREF(value);
    Py_XDECREF(tb);
    return -1;
}

void py_path_raise(py_path_t *pp, const char *root) {
    if (!pp->exc)
        return;
    PyErr_Format(pp->exc, "%s%s: %s", root, pp->buf + pp->start, pp->msg);
}

static const char *kind_name(thrift_kind_t k) { return thrift_kind_name(k); }

static int nomem(py_path_t *pp) { return py_path_fail(pp, PyExc_MemoryError, "out of memory"); }

/* ---- Python -> value ------------------------------------------------------------ */

static int set_int(py_path_t *pp, thrift_value_t *slot, PyObject *obj, thrift_kind_t kind) {
    if (!PyLong_Check(obj))
        return py_path_fail(pp, PyExc_TypeError, "expected int (%s), got %.80s",
                            kind_name(kind), Py_TYPE(obj)->tp_name);
    int overflow = 0;
    long long i = PyLong_AsLongLongAndOverflow(obj, &overflow);
    if (overflow || (i == -1 && PyErr_Occurred())) {
        PyErr_Clear();
        return py_path_fail(pp, PyExc_OverflowError, "%R out of range for %s", obj,
                            kind_name(kind));
    }
    thrift_status_t st = thrift_value_set_int(slot, (int64_t)i);
    if (st == THRIFT_RANGE)
        return py_path_fail(pp, PyExc_OverflowError, "%lld out of range for %s", i,
                            kind_name(kind));
    return st == THRIFT_OK ? 0 : py_path_fail(pp, PyExc_TypeError, "%s", thrift_status_str(st));
}

static int set_bytes(py_path_t *pp, thrift_arena_t *arena, thrift_value_t *slot,
                     PyObject *obj, thrift_kind_t kind) {
    const char *p;
    Py_ssize_t n;
    if (PyUnicode_Check(obj)) {
        p = PyUnicode_AsUTF8AndSize(obj, &n);
        if (!p)
            return fail_from_pyerr(pp, PyExc_ValueError);
    } else if (PyBytes_Check(obj)) {
        p = PyBytes_AS_STRING(obj);
        n = PyBytes_GET_SIZE(obj);
    } else if (PyByteArray_Check(obj)) {
        p = PyByteArray_AS_STRING(obj);
        n = PyByteArray_GET_SIZE(obj);
    } else {
        return py_path_fail(pp, PyExc_TypeError, "expected %s, got %.80s",
                            kind == THRIFT_KIND_STRING ? "str" : "bytes",
                            Py_TYPE(obj)->tp_name);
    }
    return thrift_value_set_bytes(arena, slot, p, (size_t)n) == THRIFT_OK ? 0 : nomem(pp);
}

static int set_uuid(py_path_t *pp, thrift_value_t *slot, PyObject *obj) {
    PyObject *b = NULL;
    if (PyBytes_Check(obj)) {
        b = obj;
        Py_INCREF(b);
    } else if (PyUnicode_Check(obj)) {
        if (!uuid_class) {
            PyObject *mod = PyImport_ImportModule("uuid");
            uuid_class = mod ? PyObject_GetAttrString(mod, "UUID") : NULL;
            Py_XDECREF(mod);
            if (!uuid_class)
                return fail_from_pyerr(pp, PyExc_ValueError);
        }
        PyObject *u = PyObject_CallOneArg(uuid_class, obj);
        b = u ? PyObject_GetAttr(u, str_bytes) : NULL;
        Py_XDECREF(u);
        if (!b)
            return fail_from_pyerr(pp, PyExc_ValueError);
    } else {
        b = PyObject_GetAttr(obj, str_bytes); /* uuid.UUID */
        if (!b) {
            PyErr_Clear();
            return py_path_fail(pp, PyExc_TypeError, "expected uuid.UUID, got %.80s",
                                Py_TYPE(obj)->tp_name);
        }
    }
    int rc = 0;
    if (!PyBytes_Check(b) || PyBytes_GET_SIZE(b) != 16) {
        rc = py_path_fail(pp, PyExc_ValueError, "a uuid has 16 bytes");
    } else {
        uint8_t raw[16];
        memcpy(raw, PyBytes_AS_STRING(b), 16);
        rc = thrift_value_set_uuid(slot, raw) == THRIFT_OK
                 ? 0
                 : py_path_fail(pp, PyExc_TypeError, "not a uuid field");
    }
    Py_DECREF(b);
    return rc;
}

/* The common scalars with their exact Python types, without the general
 * conversion's frame: 1 when done, 0 when the general path must decide
 * (other types, errors to describe). */
static inline int fast_scalar(py_codec_t *c, thrift_value_t *slot, thrift_kind_t kind,
                              PyObject *obj) {
    switch (kind) {
    case THRIFT_KIND_I8:
    case THRIFT_KIND_I16:
    case THRIFT_KIND_I32:
    case THRIFT_KIND_I64:
    case THRIFT_KIND_ENUM:
        if (PyLong_CheckExact(obj)) {
            int overflow;
            long long i = PyLong_AsLongLongAndOverflow(obj, &overflow);
            if (!overflow && !(i == -1 && PyErr_Occurred()) &&
                thrift_value_set_int(slot, (int64_t)i) == THRIFT_OK)
                return 1;
            PyErr_Clear();
        }
        return 0;
    case THRIFT_KIND_DOUBLE:
        if (PyFloat_CheckExact(obj)) {
            thrift_value_set_double(slot, PyFloat_AS_DOUBLE(obj));
            return 1;
        }
        return 0;
    case THRIFT_KIND_STRING:
        if (PyUnicode_CheckExact(obj)) {
            Py_ssize_t n;
            const char *p = PyUnicode_AsUTF8AndSize(obj, &n);
            if (p && thrift_value_set_bytes(c->arena, slot, p, (size_t)n) == THRIFT_OK)
                return 1;
            PyErr_Clear();
        }
        return 0;
    case THRIFT_KIND_BOOL:
        if (obj == Py_True || obj == Py_False) {
            thrift_value_set_bool(slot, obj == Py_True);
            return 1;
        }
        return 0;
    default:
        return 0;
    }
}

/* Counts one level of container/struct nesting; -1 with ValueError past
 * PY_CODEC_MAX_DEPTH (a value that contains itself would overflow the C
 * stack).  The caller decrements c->depth when the level is done. */
static int codec_enter_nested(py_codec_t *c) {
    if (c->depth >= PY_CODEC_MAX_DEPTH)
        return py_path_fail(&c->path, PyExc_ValueError,
                            "nested deeper than %d levels (does the value contain itself?)",
                            PY_CODEC_MAX_DEPTH);
    c->depth++;
    return 0;
}

static int nested_to_value(py_codec_t *c, thrift_value_t *slot, const thrift_type_def_t *type,
                           thrift_kind_t kind, PyObject *obj);

int py_to_value(py_codec_t *c, thrift_value_t *slot, const thrift_type_def_t *type,
                thrift_kind_t kind, PyObject *obj) {
    if (kind >= THRIFT_KIND_LIST) {
        if (codec_enter_nested(c) < 0)
            return -1;
        int rc = nested_to_value(c, slot, type, kind, obj);
        c->depth--;
        return rc;
    }
    return nested_to_value(c, slot, type, kind, obj);
}

/* py_to_value without the depth count. */
static int nested_to_value(py_codec_t *c, thrift_value_t *slot, const thrift_type_def_t *type,
                           thrift_kind_t kind, PyObject *obj) {
    py_path_t *pp = &c->path;
    switch (kind) {
    case THRIFT_KIND_BOOL:
        if (obj == Py_True || obj == Py_False)
            return thrift_value_set_bool(slot, obj == Py_True) == THRIFT_OK ? 0 : nomem(pp);
        if (PyLong_Check(obj)) {
            int t = PyObject_IsTrue(obj);
            return thrift_value_set_bool(slot, t) == THRIFT_OK ? 0 : nomem(pp);
        }
        return py_path_fail(pp, PyExc_TypeError, "expected bool, got %.80s",
                            Py_TYPE(obj)->tp_name);
    case THRIFT_KIND_I8:
    case THRIFT_KIND_I16:
    case THRIFT_KIND_I32:
    case THRIFT_KIND_I64:
    case THRIFT_KIND_ENUM:
        return set_int(pp, slot, obj, kind);
    case THRIFT_KIND_DOUBLE: {
        double d;
        if (PyFloat_CheckExact(obj)) {
            d = PyFloat_AS_DOUBLE(obj);
        } else if (PyFloat_Check(obj) || PyLong_Check(obj)) {
            d = PyFloat_AsDouble(obj);
            if (d == -1.0 && PyErr_Occurred())
                return fail_from_pyerr(pp, PyExc_OverflowError);
        } else {
            return py_path_fail(pp, PyExc_TypeError, "expected float, got %.80s",
                                Py_TYPE(obj)->tp_name);
        }
        thrift_value_set_double(slot, d);
        return 0;
    }
    case THRIFT_KIND_STRING:
    case THRIFT_KIND_BINARY:
        return set_bytes(pp, c->arena, slot, obj, kind);
    case THRIFT_KIND_UUID:
        return set_uuid(pp, slot, obj);
    case THRIFT_KIND_LIST:
    case THRIFT_KIND_SET: {
        if (PyUnicode_Check(obj) || PyBytes_Check(obj) || PyDict_Check(obj))
            return py_path_fail(pp, PyExc_TypeError, "expected %s, got %.80s",
                                kind == THRIFT_KIND_LIST ? "list" : "set",
                                Py_TYPE(obj)->tp_name);
        PyObject *seq = PySequence_Fast(obj, "");
        if (!seq) {
            PyErr_Clear();
            return py_path_fail(pp, PyExc_TypeError, "expected %s, got %.80s",
                                kind == THRIFT_KIND_LIST ? "list" : "set",
                                Py_TYPE(obj)->tp_name);
        }
        Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
        const thrift_type_def_t *et = thrift_type_def_resolved(thrift_type_def_elem(type));
        thrift_kind_t ek = thrift_type_def_kind(et);
        int rc = 0;
        thrift_status_t st = thrift_value_reserve(c->arena, slot, (size_t)n);
        if (st != THRIFT_OK) {
            rc = st == THRIFT_LIMIT ? py_path_fail(pp, PyExc_ValueError, "too many elements")
                                    : nomem(pp);
        }
        PyObject **items = PySequence_Fast_ITEMS(seq);
        for (Py_ssize_t i = 0; rc == 0 && i < n; i++) {
            thrift_value_t *item = thrift_value_append_new(c->arena, slot);
            if (!item) {
                rc = nomem(pp);
            } else if (!fast_scalar(c, item, ek, items[i]) &&
                       py_to_value(c, item, et, ek, items[i]) < 0) {
                py_path_push(pp, "[%zd]", i);
                rc = -1;
            }
        }
        Py_DECREF(seq);
        return rc;
    }
    case THRIFT_KIND_MAP: {
        if (!PyDict_Check(obj))
            return py_path_fail(pp, PyExc_TypeError, "expected dict, got %.80s",
                                Py_TYPE(obj)->tp_name);
        const thrift_type_def_t *kt = thrift_type_def_resolved(thrift_type_def_key(type));
        const thrift_type_def_t *vt = thrift_type_def_resolved(thrift_type_def_value(type));
        thrift_kind_t kk = thrift_type_def_kind(kt), vk = thrift_type_def_kind(vt);
        if (thrift_value_reserve(c->arena, slot, (size_t)PyDict_GET_SIZE(obj)) != THRIFT_OK)
            return nomem(pp);
        Py_ssize_t pos = 0;
        PyObject *k, *v;
        while (PyDict_Next(obj, &pos, &k, &v)) {
            thrift_value_t *vslot = NULL;
            thrift_value_t *kslot = thrift_value_map_append_new(c->arena, slot, &vslot);
            if (!kslot)
                return nomem(pp);
            if (!fast_scalar(c, kslot, kk, k) && py_to_value(c, kslot, kt, kk, k) < 0) {
                py_path_push(pp, "[key %.60R]", k);
                return -1;
            }
            if (!fast_scalar(c, vslot, vk, v) && py_to_value(c, vslot, vt, vk, v) < 0) {
                py_path_push(pp, "[%.60R]", k);
                return -1;
            }
        }
        return 0;
    }
    case THRIFT_KIND_STRUCT:
    case THRIFT_KIND_UNION:
    case THRIFT_KIND_EXCEPTION: {
        py_plan_t *plan = py_schema_find_plan(c->schema, thrift_type_def_struct(type));
        if (!plan || !plan->cls)
            return py_path_fail(pp, PyExc_TypeError, "no class bound for %s",
                                thrift_type_def_name(type));
        if (!PyObject_TypeCheck(obj, (PyTypeObject *)plan->cls))
            return py_path_fail(pp, PyExc_TypeError, "expected %s, got %.80s",
                                thrift_struct_def_name(plan->def), Py_TYPE(obj)->tp_name);
        return py_struct_to_value(c, slot, plan, obj);
    }
    default:
        return py_path_fail(pp, PyExc_TypeError, "cannot encode a %s", kind_name(kind));
    }
}

int py_struct_to_value(py_codec_t *c, thrift_value_t *sv, const py_plan_t *plan,
                       PyObject *obj) {
    py_path_t *pp = &c->path;
    size_t set_count = 0;
    /* Fields live in the instance dict: one lookup each with the interned
     * name's cached hash, instead of the generic attribute walk (which
     * goes through the class's MRO first).  Anything else (a property, a
     * __slots__ class) takes the generic path. */
    PyObject *dict = PyObject_GenericGetDict(obj, NULL);
    if (!dict)
        PyErr_Clear();
    /* The generated __init__ and the decoder set the fields in IDL order,
     * so the dict usually holds them in that order: walk it alongside the
     * fields while each key is the field's (interned) name, and look
     * names up only from the first mismatch on. */
    Py_ssize_t pos = 0;
    bool in_order = dict != NULL;
    for (size_t i = 0; i < plan->nfields; i++) {
        const py_field_plan_t *f = &plan->fields[i];
        PyObject *attr = NULL, *key, *value;
        if (in_order) {
            if (PyDict_Next(dict, &pos, &key, &value) && key == f->name)
                attr = value;
            else
                in_order = false;
        }
        if (!attr && dict)
            attr = PyDict_GetItemWithError(dict, f->name);
        if (attr)
            Py_INCREF(attr);
        else if (!PyErr_Occurred())
            attr = PyObject_GetAttr(obj, f->name);
        if (!attr) {
            if (!PyErr_ExceptionMatches(PyExc_AttributeError)) {
                Py_XDECREF(dict);
                fail_from_pyerr(pp, PyExc_TypeError);
                py_path_push(pp, ".%s", PyUnicode_AsUTF8(f->name));
                return -1;
            }
            PyErr_Clear();
        }
        if (!attr || attr == Py_None) {
            thrift_value_unset_at(sv, i);
            Py_XDECREF(attr);
            if (f->required) {
                Py_XDECREF(dict);
                py_path_fail(pp, PyExc_ValueError, "required field missing");
                py_path_push(pp, ".%s", PyUnicode_AsUTF8(f->name));
                return -1;
            }
            continue;
        }
        /* A slot holding an IDL default is overwritten in place for
         * scalars; containers and structs start from a fresh value. */
        if (f->kind >= THRIFT_KIND_LIST)
            thrift_value_unset_at(sv, i);
        thrift_value_t *slot = thrift_value_field_at(c->arena, sv, i);
        int rc = !slot                                  ? nomem(pp)
                 : fast_scalar(c, slot, f->kind, attr) ? 0
                                                        : py_to_value(c, slot, f->type, f->kind, attr);
        Py_DECREF(attr);
        if (rc < 0) {
            Py_XDECREF(dict);
            py_path_push(pp, ".%s", PyUnicode_AsUTF8(f->name));
            return -1;
        }
        set_count++;
    }
    Py_XDECREF(dict);
    if (plan->kind == THRIFT_KIND_UNION && set_count > 1)
        return py_path_fail(pp, PyExc_ValueError, "a union takes one field, %zu are set",
                            set_count);
    return 0;
}

/* ---- Python -> wire, without a value tree --------------------------------------
 * The same checks and error paths as py_to_value, written straight to a
 * thrift_writer_t (binary, compact): no arena slots, no string copies. */

static int wnomem(py_path_t *pp, thrift_status_t st) {
    if (st == THRIFT_LIMIT)
        return py_path_fail(pp, PyExc_ValueError, "too long or nested too deep for the wire");
    if (st == THRIFT_NOMEM)
        return nomem(pp);
    return py_path_fail(pp, PyExc_TypeError, "%s", thrift_status_str(st));
}

#define WRITE(pp, call)                                                                   \
    do {                                                                                  \
        thrift_status_t st_ = (call);                                                     \
        if (st_ != THRIFT_OK)                                                             \
            return wnomem((pp), st_);                                                     \
    } while (0)

static int write_int(py_path_t *pp, thrift_writer_t *w, PyObject *obj, thrift_kind_t kind) {
    if (!PyLong_Check(obj))
        return py_path_fail(pp, PyExc_TypeError, "expected int (%s), got %.80s",
                            kind_name(kind), Py_TYPE(obj)->tp_name);
    int overflow = 0;
    long long i = PyLong_AsLongLongAndOverflow(obj, &overflow);
    if (overflow || (i == -1 && PyErr_Occurred())) {
        PyErr_Clear();
        return py_path_fail(pp, PyExc_OverflowError, "%R out of range for %s", obj,
                            kind_name(kind));
    }
    switch (kind) {
    case THRIFT_KIND_I8:
        if (i < INT8_MIN || i > INT8_MAX)
            break;
        WRITE(pp, thrift_writer_i8(w, (int8_t)i));
        return 0;
    case THRIFT_KIND_I16:
        if (i < INT16_MIN || i > INT16_MAX)
            break;
        WRITE(pp, thrift_writer_i16(w, (int16_t)i));
        return 0;
    case THRIFT_KIND_I64:
        WRITE(pp, thrift_writer_i64(w, (int64_t)i));
        return 0;
    default: /* i32, enum */
        if (i < INT32_MIN || i > INT32_MAX)
            break;
        WRITE(pp, thrift_writer_i32(w, (int32_t)i));
        return 0;
    }
    return py_path_fail(pp, PyExc_OverflowError, "%lld out of range for %s", i, kind_name(kind));
}

static int write_struct(py_codec_t *c, thrift_writer_t *w, const py_plan_t *plan, PyObject *obj);

static int write_nested(py_codec_t *c, thrift_writer_t *w, const thrift_type_def_t *type,
                        thrift_kind_t kind, PyObject *obj);

/* One value of `type`: the common exact types inline, the rest (and every
 * error) through write_nested. */
static inline int write_value(py_codec_t *c, thrift_writer_t *w, const thrift_type_def_t *type,
                              thrift_kind_t kind, PyObject *obj) {
    switch (kind) {
    case THRIFT_KIND_I32:
    case THRIFT_KIND_ENUM:
    case THRIFT_KIND_I64:
        if (PyLong_CheckExact(obj)) {
            int overflow;
            long long i = PyLong_AsLongLongAndOverflow(obj, &overflow);
            if (!overflow && !(i == -1 && PyErr_Occurred())) {
                if (kind == THRIFT_KIND_I64)
                    return thrift_writer_i64(w, i) == THRIFT_OK ? 0 : nomem(&c->path);
                if (i >= INT32_MIN && i <= INT32_MAX)
                    return thrift_writer_i32(w, (int32_t)i) == THRIFT_OK ? 0 : nomem(&c->path);
            }
            PyErr_Clear();
        }
        break;
    case THRIFT_KIND_STRING:
        if (PyUnicode_CheckExact(obj)) {
            Py_ssize_t n;
            const char *p = PyUnicode_AsUTF8AndSize(obj, &n);
            if (p) {
                thrift_status_t st = thrift_writer_binary(w, p, (size_t)n);
                return st == THRIFT_OK ? 0 : wnomem(&c->path, st);
            }
            PyErr_Clear();
        }
        break;
    case THRIFT_KIND_DOUBLE:
        if (PyFloat_CheckExact(obj))
            return thrift_writer_double(w, PyFloat_AS_DOUBLE(obj)) == THRIFT_OK ? 0
                                                                                 : nomem(&c->path);
        break;
    case THRIFT_KIND_BOOL:
        if (obj == Py_True || obj == Py_False)
            return thrift_writer_bool(w, obj == Py_True) == THRIFT_OK ? 0 : nomem(&c->path);
        break;
    default:
        break;
    }
    if (kind >= THRIFT_KIND_LIST) {
        if (codec_enter_nested(c) < 0)
            return -1;
        int rc = write_nested(c, w, type, kind, obj);
        c->depth--;
        return rc;
    }
    return write_nested(c, w, type, kind, obj);
}

static int write_nested(py_codec_t *c, thrift_writer_t *w, const thrift_type_def_t *type,
                        thrift_kind_t kind, PyObject *obj) {
    py_path_t *pp = &c->path;
    switch (kind) {
    case THRIFT_KIND_BOOL:
        if (obj == Py_True || obj == Py_False || PyLong_Check(obj)) {
            int t = PyObject_IsTrue(obj);
            WRITE(pp, thrift_writer_bool(w, t != 0));
            return 0;
        }
        return py_path_fail(pp, PyExc_TypeError, "expected bool, got %.80s",
                            Py_TYPE(obj)->tp_name);
    case THRIFT_KIND_I8:
    case THRIFT_KIND_I16:
    case THRIFT_KIND_I32:
    case THRIFT_KIND_I64:
    case THRIFT_KIND_ENUM:
        return write_int(pp, w, obj, kind);
    case THRIFT_KIND_DOUBLE: {
        double d;
        if (PyFloat_Check(obj) || PyLong_Check(obj)) {
            d = PyFloat_AsDouble(obj);
            if (d == -1.0 && PyErr_Occurred())
                return fail_from_pyerr(pp, PyExc_OverflowError);
        } else {
            return py_path_fail(pp, PyExc_TypeError, "expected float, got %.80s",
                                Py_TYPE(obj)->tp_name);
        }
        WRITE(pp, thrift_writer_double(w, d));
        return 0;
    }
    case THRIFT_KIND_STRING:
    case THRIFT_KIND_BINARY: {
        const char *p;
        Py_ssize_t n;
        if (PyUnicode_Check(obj)) {
            p = PyUnicode_AsUTF8AndSize(obj, &n);
            if (!p)
                return fail_from_pyerr(pp, PyExc_ValueError);
        } else if (PyBytes_Check(obj)) {
            p = PyBytes_AS_STRING(obj);
            n = PyBytes_GET_SIZE(obj);
        } else if (PyByteArray_Check(obj)) {
            p = PyByteArray_AS_STRING(obj);
            n = PyByteArray_GET_SIZE(obj);
        } else {
            return py_path_fail(pp, PyExc_TypeError, "expected %s, got %.80s",
                                kind == THRIFT_KIND_STRING ? "str" : "bytes",
                                Py_TYPE(obj)->tp_name);
        }
        WRITE(pp, thrift_writer_binary(w, p, (size_t)n));
        return 0;
    }
    case THRIFT_KIND_UUID: {
        /* set_uuid's checks on a scratch slot, then its 16 bytes */
        thrift_value_t *slot = thrift_value_new(c->arena, type);
        if (!slot)
            return nomem(pp);
        if (set_uuid(pp, slot, obj) < 0)
            return -1;
        WRITE(pp, thrift_writer_uuid(w, thrift_value_uuid(slot)));
        return 0;
    }
    case THRIFT_KIND_LIST:
    case THRIFT_KIND_SET: {
        if (PyUnicode_Check(obj) || PyBytes_Check(obj) || PyDict_Check(obj))
            return py_path_fail(pp, PyExc_TypeError, "expected %s, got %.80s",
                                kind == THRIFT_KIND_LIST ? "list" : "set",
                                Py_TYPE(obj)->tp_name);
        PyObject *seq = PySequence_Fast(obj, "");
        if (!seq) {
            PyErr_Clear();
            return py_path_fail(pp, PyExc_TypeError, "expected %s, got %.80s",
                                kind == THRIFT_KIND_LIST ? "list" : "set",
                                Py_TYPE(obj)->tp_name);
        }
        Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
        const thrift_type_def_t *et = thrift_type_def_resolved(thrift_type_def_elem(type));
        thrift_kind_t ek = thrift_type_def_kind(et);
        int rc = 0;
        thrift_status_t st = n > INT32_MAX ? THRIFT_LIMIT
                             : kind == THRIFT_KIND_LIST
                                 ? thrift_writer_list_begin(w, thrift_type_def_wire_type(et), (uint32_t)n)
                                 : thrift_writer_set_begin(w, thrift_type_def_wire_type(et), (uint32_t)n);
        if (st != THRIFT_OK)
            rc = st == THRIFT_LIMIT ? py_path_fail(pp, PyExc_ValueError, "too many elements")
                                    : wnomem(pp, st);
        PyObject **items = PySequence_Fast_ITEMS(seq);
        for (Py_ssize_t i = 0; rc == 0 && i < n; i++) {
            if (write_value(c, w, et, ek, items[i]) < 0) {
                py_path_push(pp, "[%zd]", i);
                rc = -1;
            }
        }
        Py_DECREF(seq);
        return rc;
    }
    case THRIFT_KIND_MAP: {
        if (!PyDict_Check(obj))
            return py_path_fail(pp, PyExc_TypeError, "expected dict, got %.80s",
                                Py_TYPE(obj)->tp_name);
        const thrift_type_def_t *kt = thrift_type_def_resolved(thrift_type_def_key(type));
        const thrift_type_def_t *vt = thrift_type_def_resolved(thrift_type_def_value(type));
        thrift_kind_t kk = thrift_type_def_kind(kt), vk = thrift_type_def_kind(vt);
        WRITE(pp, thrift_writer_map_begin(w, thrift_type_def_wire_type(kt),
                                          thrift_type_def_wire_type(vt),
                                          (uint32_t)PyDict_GET_SIZE(obj)));
        Py_ssize_t pos = 0;
        PyObject *k, *v;
        while (PyDict_Next(obj, &pos, &k, &v)) {
            if (write_value(c, w, kt, kk, k) < 0) {
                py_path_push(pp, "[key %.60R]", k);
                return -1;
            }
            if (write_value(c, w, vt, vk, v) < 0) {
                py_path_push(pp, "[%.60R]", k);
                return -1;
            }
        }
        return 0;
    }
    case THRIFT_KIND_STRUCT:
    case THRIFT_KIND_UNION:
    case THRIFT_KIND_EXCEPTION: {
        const py_plan_t *plan = c->last_plan;
        if (!plan || plan->def != thrift_type_def_struct(type)) {
            plan = py_schema_find_plan(c->schema, thrift_type_def_struct(type));
            c->last_plan = plan;
        }
        if (!plan || !plan->cls)
            return py_path_fail(pp, PyExc_TypeError, "no class bound for %s",
                                thrift_type_def_name(type));
        if (!PyObject_TypeCheck(obj, (PyTypeObject *)plan->cls))
            return py_path_fail(pp, PyExc_TypeError, "expected %s, got %.80s",
                                thrift_struct_def_name(plan->def), Py_TYPE(obj)->tp_name);
        return write_struct(c, w, plan, obj);
    }
    default:
        return py_path_fail(pp, PyExc_TypeError, "cannot encode a %s", kind_name(kind));
    }
}

/* A struct: its fields' values are gathered in IDL order (walking the
 * instance dict alongside while the keys match, as py_struct_to_value
 * does), checked (required, union), then written in id order. */
static int write_struct(py_codec_t *c, thrift_writer_t *w, const py_plan_t *plan, PyObject *obj) {
    /* One pass in field-id order: each attribute fetched, checked and
     * written before the next (a failure discards the whole output). */
    py_path_t *pp = &c->path;
    thrift_status_t st = thrift_writer_struct_begin(w);
    if (st != THRIFT_OK)
        return wnomem(pp, st);
    PyObject *dict = PyObject_GenericGetDict(obj, NULL);
    if (!dict)
        PyErr_Clear();
    /* An instance made by __init__ (or decoded) holds its fields in
     * declaration order: walk its dict alongside the fields while the keys
     * match, instead of a lookup per field. */
    Py_ssize_t pos = 0;
    bool in_order = dict != NULL && !plan->by_id;
    size_t set_count = 0;
    int rc = 0;
    for (size_t k = 0; rc == 0 && k < plan->nfields; k++) {
        size_t i = plan->by_id ? plan->by_id[k] : k;
        const py_field_plan_t *f = &plan->fields[i];
        PyObject *attr = NULL, *key, *value;
        if (in_order) {
            if (PyDict_Next(dict, &pos, &key, &value) && key == f->name)
                attr = value;
            else
                in_order = false;
        }
        if (!attr && dict)
            attr = PyDict_GetItemWithError(dict, f->name);
        if (attr)
            Py_INCREF(attr); /* writing may run Python code that changes the dict */
        else if (!PyErr_Occurred())
            attr = PyObject_GetAttr(obj, f->name);
        if (!attr) {
            if (!PyErr_ExceptionMatches(PyExc_AttributeError)) {
                fail_from_pyerr(pp, PyExc_TypeError);
                py_path_push(pp, ".%s", PyUnicode_AsUTF8(f->name));
                rc = -1;
                break;
            }
            PyErr_Clear();
        }
        if (attr == Py_None)
            Py_CLEAR(attr);
        if (!attr) {
            if (f->required) {
                py_path_fail(pp, PyExc_ValueError, "required field missing");
                py_path_push(pp, ".%s", PyUnicode_AsUTF8(f->name));
                rc = -1;
            }
            continue;
        }
        set_count++;
        st = thrift_writer_field_begin(w, f->wire, f->id);
        if (st != THRIFT_OK)
            rc = wnomem(pp, st);
        else if (write_value(c, w, f->type, f->kind, attr) < 0)
            rc = -1;
        if (rc < 0)
            py_path_push(pp, ".%s", PyUnicode_AsUTF8(f->name));
        Py_DECREF(attr);
    }
    Py_XDECREF(dict);
    if (rc == 0 && plan->kind == THRIFT_KIND_UNION && set_count > 1)
        rc = py_path_fail(pp, PyExc_ValueError, "a union takes one field, %zu are set",
                          set_count);
    if (rc == 0) {
        st = thrift_writer_struct_end(w);
        if (st != THRIFT_OK)
            rc = wnomem(pp, st);
    }
    return rc;
}

/* ---- value -> Python ----------------------------------------------------------- */

/* A str from a thrift string's UTF-8 bytes.  Most are ASCII: checked a word
 * at a time and copied straight into a new compact str, which is what the
 * UTF-8 decoder would build after a slower scan; anything else (and the
 * one-character strings the decoder answers from its cache) goes through
 * the decoder, whose errors name the bad byte. */
static PyObject *str_from_utf8(const uint8_t *p, size_t n) {
    uint64_t high = 0;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t word;
        memcpy(&word, p + i, sizeof word);
        high |= word;
    }
    for (; i < n; i++)
        high |= p[i];
    if (n <= 1 || (high & UINT64_C(0x8080808080808080)))
        return PyUnicode_DecodeUTF8((const char *)p, (Py_ssize_t)n, NULL);
    PyObject *s = PyUnicode_New((Py_ssize_t)n, 127);
    if (s)
        memcpy(PyUnicode_1BYTE_DATA(s), p, n);
    return s;
}

static PyObject *default_of(const py_plan_t *plan, size_t i) {
    if (!plan->defaults) {
        Py_RETURN_NONE;
    }
    PyObject *d = PyTuple_GET_ITEM(plan->defaults, (Py_ssize_t)i);
    if (plan->copy_default[i] && d != Py_None)
        return PyObject_CallOneArg(deepcopy_func, d);
    Py_INCREF(d);
    return d;
}

/* Sets field `name` of a struct instance.  Struct classes keep their
 * instance attributes the way CPython (3.11+) does for a class whose
 * __init__ assigns them: values inline in the object under keys shared by
 * every instance, with no per-instance dict until someone asks for
 * __dict__.  The generic setattr on a fresh instance stores them so;
 * filling the dict from PyObject_GenericGetDict instead would make a dict
 * per instance and cost more to build, keep and free.  (A class's own
 * __setattr__ is not run: decoding stores fields, as it always has.) */
static inline int set_field(PyObject *obj, PyObject *name, PyObject *val) {
    return PyObject_GenericSetAttr(obj, name, val);
}

int py_fill_struct(py_codec_t *c, PyObject *obj, const py_plan_t *plan,
                   const thrift_value_t *v) {
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < plan->nfields; i++) {
        const thrift_value_t *fv = thrift_value_get_at(v, i);
        PyObject *val = fv ? py_from_value(c, fv) : default_of(plan, i);
        if (!val) {
            rc = -1;
            break;
        }
        rc = set_field(obj, plan->fields[i].name, val);
        Py_DECREF(val);
    }
    return rc;
}

/* Sets the fields' values (borrowed) on `obj`, as py_fill_struct does. */
static int py_assign_fields(PyObject *obj, const py_plan_t *plan, PyObject *const *vals) {
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < plan->nfields; i++)
        rc = set_field(obj, plan->fields[i].name, vals[i]);
    return rc;
}

PyObject *py_new_instance(const py_plan_t *plan) {
    PyTypeObject *tp = (PyTypeObject *)plan->cls;
    return tp->tp_new(tp, py_empty_tuple, NULL);
}

PyObject *py_from_value(py_codec_t *c, const thrift_value_t *v) {
    thrift_kind_t kind = thrift_value_kind(v);
    size_t len;
    const uint8_t *p;
    switch (kind) {
    case THRIFT_KIND_BOOL:
        return PyBool_FromLong(thrift_value_bool(v));
    case THRIFT_KIND_I8:
    case THRIFT_KIND_I16:
    case THRIFT_KIND_I32:
    case THRIFT_KIND_I64:
    case THRIFT_KIND_ENUM:
        return PyLong_FromLongLong(thrift_value_int(v));
    case THRIFT_KIND_DOUBLE:
        return PyFloat_FromDouble(thrift_value_double(v));
    case THRIFT_KIND_STRING:
        p = thrift_value_bytes(v, &len);
        return str_from_utf8(p, len);
    case THRIFT_KIND_BINARY:
        p = thrift_value_bytes(v, &len);
        return PyBytes_FromStringAndSize((const char *)p, (Py_ssize_t)len);
    case THRIFT_KIND_UUID: {
        if (!uuid_class) {
            PyObject *mod = PyImport_ImportModule("uuid");
            uuid_class = mod ? PyObject_GetAttrString(mod, "UUID") : NULL;
            Py_XDECREF(mod);
            if (!uuid_class)
                return NULL;
        }
        PyObject *b = PyBytes_FromStringAndSize((const char *)thrift_value_uuid(v), 16);
        PyObject *kw = b ? Py_BuildValue("{sN}", "bytes", b) : NULL;
        PyObject *u = kw ? PyObject_Call(uuid_class, py_empty_tuple, kw) : NULL;
        Py_XDECREF(kw);
        return u;
    }
    case THRIFT_KIND_LIST: {
        size_t n = thrift_value_count(v);
        PyObject *list = PyList_New((Py_ssize_t)n);
        for (size_t i = 0; list && i < n; i++) {
            PyObject *item = py_from_value(c, thrift_value_at(v, i));
            if (!item) {
                Py_CLEAR(list);
                break;
            }
            PyList_SET_ITEM(list, (Py_ssize_t)i, item);
        }
        return list;
    }
    case THRIFT_KIND_SET: {
        size_t n = thrift_value_count(v);
        PyObject *set = PySet_New(NULL);
        for (size_t i = 0; set && i < n; i++) {
            PyObject *item = py_from_value(c, thrift_value_at(v, i));
            if (!item || PySet_Add(set, item) < 0)
                Py_CLEAR(set);
            Py_XDECREF(item);
        }
        return set;
    }
    case THRIFT_KIND_MAP: {
        size_t n = thrift_value_count(v);
        PyObject *d = PyDict_New();
        for (size_t i = 0; d && i < n; i++) {
            PyObject *k = py_from_value(c, thrift_value_map_key(v, i));
            PyObject *val = k ? py_from_value(c, thrift_value_map_value(v, i)) : NULL;
            if (!val || PyDict_SetItem(d, k, val) < 0)
                Py_CLEAR(d);
            Py_XDECREF(k);
            Py_XDECREF(val);
        }
        return d;
    }
    case THRIFT_KIND_STRUCT:
    case THRIFT_KIND_UNION:
    case THRIFT_KIND_EXCEPTION: {
        const thrift_struct_def_t *sd = thrift_value_struct_def(v);
        const py_plan_t *plan = c->last_plan && c->last_plan->def == sd
                                    ? c->last_plan
                                    : py_schema_find_plan(c->schema, sd);
        if (!plan || !plan->cls)
            return PyErr_Format(PyExc_TypeError, "no class bound for %s",
                                thrift_struct_def_name(sd));
        c->last_plan = plan;
        PyObject *obj = py_new_instance(plan);
        if (obj && py_fill_struct(c, obj, plan, v) < 0)
            Py_CLEAR(obj);
        return obj;
    }
    default:
        Py_RETURN_NONE;
    }
}

/* ---- wire -> Python (binary, compact) -------------------------------------------
 * Objects built straight from a thrift_reader_t: no value tree.  A reader
 * failure is recorded in the reader's error (the value path prepended here
 * while unwinding) and returns NULL with no Python exception; a Python
 * failure (a bad UTF-8 string, no memory) returns NULL with it raised. */

static void err_path_prepend(thrift_error_t *err, const char *component, bool is_index) {
    /* a path too long for the error keeps its head (the outermost names) */
    char tmp[2 * sizeof err->path + 8];
    bool dot = err->path[0] && err->path[0] != '[';
    snprintf(tmp, sizeof tmp, is_index ? "[%.200s]%s%s" : "%.200s%s%s", component,
             dot ? "." : "", err->path);
    snprintf(err->path, sizeof err->path, "%.*s", (int)(sizeof err->path - 1), tmp);
}

static void err_path_index(thrift_error_t *err, uint32_t i) {
    char ix[16];
    snprintf(ix, sizeof ix, "%u", i);
    err_path_prepend(err, ix, true);
}

static const char *type_name(const thrift_type_def_t *t) {
    const char *n = thrift_type_def_name(t);
    return n ? n : kind_name(thrift_type_def_kind(t));
}

static PyObject *uuid_from_bytes(const uint8_t *b16) {
    if (!uuid_class) {
        PyObject *mod = PyImport_ImportModule("uuid");
        uuid_class = mod ? PyObject_GetAttrString(mod, "UUID") : NULL;
        Py_XDECREF(mod);
        if (!uuid_class)
            return NULL;
    }
    PyObject *b = PyBytes_FromStringAndSize((const char *)b16, 16);
    PyObject *kw = b ? Py_BuildValue("{sN}", "bytes", b) : NULL;
    PyObject *u = kw ? PyObject_Call(uuid_class, py_empty_tuple, kw) : NULL;
    Py_XDECREF(kw);
    return u;
}

/* Short ASCII strings already made in this decode, by a hash of their
 * bytes: repeated map keys, enum-like and tag values (the same few strings
 * in every element of a list) come back as one shared str instead of a new
 * object each, which also keeps the hash a dict key needs computed once. */
#define STR_CACHE_SLOTS 64 /* a power of two */
#define STR_CACHE_MAX_LEN 32

/* A string of 2..STR_CACHE_MAX_LEN bytes as overlapping 8-byte words that
 * together cover every byte, so that equal words and length mean equal
 * strings. */
typedef struct str_key {
    uint64_t w[4];
    size_t n;
} str_key_t;

typedef struct py_wire {
    py_codec_t *c;
    thrift_reader_t *rd;
    thrift_error_t *err;
    bool check_required;
    PyObject *strs[STR_CACHE_SLOTS]; /* owned; NULL: empty */
    str_key_t str_keys[STR_CACHE_SLOTS]; /* of strs[i] when it is set */
} py_wire_t;

static inline uint64_t load64(const uint8_t *p) {
    uint64_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

static inline uint64_t load32(const uint8_t *p) {
    uint32_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

/* Fills `k` from p[0..n), 2 <= n <= STR_CACHE_MAX_LEN; false when a byte
 * is not ASCII. */
static inline bool short_ascii_key(const uint8_t *p, size_t n, str_key_t *k) {
    k->n = n;
    k->w[2] = k->w[3] = 0;
    if (n >= 8) {
        k->w[0] = load64(p);
        k->w[1] = load64(p + n - 8);
        if (n > 16) {
            k->w[2] = load64(p + 8);
            k->w[3] = load64(p + n - 16);
        }
    } else if (n >= 4) {
        k->w[0] = load32(p);
        k->w[1] = load32(p + n - 4);
    } else {
        k->w[0] = (uint64_t)p[0] | (uint64_t)p[1] << 8;
        k->w[1] = p[n - 1];
    }
    return ((k->w[0] | k->w[1] | k->w[2] | k->w[3]) & UINT64_C(0x8080808080808080)) == 0;
}

static inline size_t str_cache_slot(const str_key_t *k) {
    uint64_t h = (k->w[0] ^ (k->w[1] * UINT64_C(0x9E3779B97F4A7C15)) ^ k->w[2] ^ k->n) *
                 UINT64_C(0xFF51AFD7ED558CCD);
    return (size_t)(h >> 58) & (STR_CACHE_SLOTS - 1);
}

/* The str of a thrift string read from the wire, shared with an equal one
 * made earlier in this decode when it is short ASCII. */
static PyObject *wire_str(py_wire_t *wr, const uint8_t *p, size_t n) {
    str_key_t k;
    if (n < 2 || n > STR_CACHE_MAX_LEN || !short_ascii_key(p, n, &k))
        return str_from_utf8(p, n);
    size_t i = str_cache_slot(&k);
    const str_key_t *ck = &wr->str_keys[i];
    if (wr->strs[i] && ck->n == n && ck->w[0] == k.w[0] && ck->w[1] == k.w[1] &&
        ck->w[2] == k.w[2] && ck->w[3] == k.w[3])
        return Py_NewRef(wr->strs[i]);
    PyObject *s = PyUnicode_New((Py_ssize_t)n, 127);
    if (!s)
        return NULL;
    memcpy(PyUnicode_1BYTE_DATA(s), p, n);
    Py_XSETREF(wr->strs[i], Py_NewRef(s));
    wr->str_keys[i] = k;
    return s;
}

static void str_cache_clear(py_wire_t *wr) {
    for (size_t i = 0; i < STR_CACHE_SLOTS; i++)
        Py_CLEAR(wr->strs[i]);
}

static int read_struct_fields(py_wire_t *wr, const py_plan_t *plan, PyObject **vals);
static PyObject *read_nested(py_wire_t *wr, const thrift_type_def_t *type, thrift_kind_t kind);

#define RD(call)                                                                              \
    do {                                                                                      \
        if ((call) != THRIFT_OK)                                                              \
            return NULL;                                                                      \
    } while (0)

/* A field's scalar value read with its header, as the Python object of
 * `kind`, the field's (its wire type checked). */
static inline PyObject *scalar_to_py(py_wire_t *wr, thrift_kind_t kind,
                                     const thrift_reader_field_t *field) {
    switch (kind) {
    case THRIFT_KIND_BOOL:
        return PyBool_FromLong(field->value.b);
    case THRIFT_KIND_I8:
    case THRIFT_KIND_I16:
    case THRIFT_KIND_I32:
    case THRIFT_KIND_ENUM:
        return PyLong_FromLong((long)field->value.i);
    case THRIFT_KIND_I64:
        return PyLong_FromLongLong(field->value.i);
    case THRIFT_KIND_DOUBLE:
        return PyFloat_FromDouble(field->value.d);
    case THRIFT_KIND_STRING:
        return wire_str(wr, field->value.bytes.p, field->value.bytes.n);
    case THRIFT_KIND_BINARY:
        return PyBytes_FromStringAndSize((const char *)field->value.bytes.p,
                                         (Py_ssize_t)field->value.bytes.n);
    default: /* no other kind has a scalar wire type */
        return PyErr_Format(PyExc_TypeError, "cannot decode a %s", kind_name(kind));
    }
}

/* One value of `type` whose wire type the caller has checked. */
static inline PyObject *read_value(py_wire_t *wr, const thrift_type_def_t *type,
                                   thrift_kind_t kind) {
    thrift_reader_t *rd = wr->rd;
    switch (kind) {
    case THRIFT_KIND_BOOL: {
        bool b;
        RD(thrift_reader_bool(rd, &b));
        return PyBool_FromLong(b);
    }
    case THRIFT_KIND_I8: {
        int8_t v;
        RD(thrift_reader_i8(rd, &v));
        return PyLong_FromLong(v);
    }
    case THRIFT_KIND_I16: {
        int16_t v;
        RD(thrift_reader_i16(rd, &v));
        return PyLong_FromLong(v);
    }
    case THRIFT_KIND_I32:
    case THRIFT_KIND_ENUM: {
        int32_t v;
        RD(thrift_reader_i32(rd, &v));
        return PyLong_FromLong(v);
    }
    case THRIFT_KIND_I64: {
        int64_t v;
        RD(thrift_reader_i64(rd, &v));
        return PyLong_FromLongLong(v);
    }
    case THRIFT_KIND_DOUBLE: {
        double v;
        RD(thrift_reader_double(rd, &v));
        return PyFloat_FromDouble(v);
    }
    case THRIFT_KIND_STRING: {
        const uint8_t *p;
        size_t n;
        RD(thrift_reader_binary(rd, &p, &n));
        return wire_str(wr, p, n);
    }
    case THRIFT_KIND_BINARY: {
        const uint8_t *p;
        size_t n;
        RD(thrift_reader_binary(rd, &p, &n));
        return PyBytes_FromStringAndSize((const char *)p, (Py_ssize_t)n);
    }
    default:
        return read_nested(wr, type, kind);
    }
}

static PyObject *read_nested(py_wire_t *wr, const thrift_type_def_t *type, thrift_kind_t kind) {
    thrift_reader_t *rd = wr->rd;
    size_t at = thrift_reader_offset(rd);
    switch (kind) {
    case THRIFT_KIND_UUID: {
        uint8_t u[16];
        RD(thrift_reader_uuid(rd, u));
        return uuid_from_bytes(u);
    }
    case THRIFT_KIND_LIST:
    case THRIFT_KIND_SET: {
        thrift_wire_type_t ew;
        uint32_t n;
        RD(thrift_reader_list_begin(rd, &ew, &n));
        const thrift_type_def_t *et = thrift_type_def_resolved(thrift_type_def_elem(type));
        thrift_kind_t ek = thrift_type_def_kind(et);
        if (n && ew != thrift_type_def_wire_type(et)) {
            thrift_reader_fail(rd, THRIFT_TYPE, at, "expected %s elements, got wire type %u",
                               type_name(et), (unsigned)ew);
            return NULL;
        }
        PyObject *out = kind == THRIFT_KIND_LIST ? PyList_New((Py_ssize_t)n) : PySet_New(NULL);
        for (uint32_t i = 0; out && i < n; i++) {
            PyObject *item = read_value(wr, et, ek);
            if (!item) {
                err_path_index(wr->err, i);
                Py_CLEAR(out);
            } else if (kind == THRIFT_KIND_LIST) {
                PyList_SET_ITEM(out, (Py_ssize_t)i, item);
            } else {
                if (PySet_Add(out, item) < 0)
                    Py_CLEAR(out);
                Py_DECREF(item);
            }
        }
        if (out && thrift_reader_container_end(rd) != THRIFT_OK)
            Py_CLEAR(out);
        return out;
    }
    case THRIFT_KIND_MAP: {
        thrift_wire_type_t kw, vw;
        uint32_t n;
        RD(thrift_reader_map_begin(rd, &kw, &vw, &n));
        const thrift_type_def_t *kt = thrift_type_def_resolved(thrift_type_def_key(type));
        const thrift_type_def_t *vt = thrift_type_def_resolved(thrift_type_def_value(type));
        if (n && (kw != thrift_type_def_wire_type(kt) || vw != thrift_type_def_wire_type(vt))) {
            thrift_reader_fail(rd, THRIFT_TYPE, at, "expected map<%s,%s>, got wire types %u,%u",
                               type_name(kt), type_name(vt), (unsigned)kw, (unsigned)vw);
            return NULL;
        }
        thrift_kind_t kk = thrift_type_def_kind(kt), vk = thrift_type_def_kind(vt);
        PyObject *d = PyDict_New();
        for (uint32_t i = 0; d && i < n; i++) {
            PyObject *k = read_value(wr, kt, kk);
            PyObject *v = k ? read_value(wr, vt, vk) : NULL;
            if (!v) {
                err_path_index(wr->err, i);
                Py_CLEAR(d);
            } else if (PyDict_SetItem(d, k, v) < 0) {
                Py_CLEAR(d);
            }
            Py_XDECREF(k);
            Py_XDECREF(v);
        }
        if (d && thrift_reader_container_end(rd) != THRIFT_OK)
            Py_CLEAR(d);
        return d;
    }
    case THRIFT_KIND_STRUCT:
    case THRIFT_KIND_UNION:
    case THRIFT_KIND_EXCEPTION: {
        py_codec_t *c = wr->c;
        const thrift_struct_def_t *sd = thrift_type_def_struct(type);
        const py_plan_t *plan = c->last_plan && c->last_plan->def == sd
                                    ? c->last_plan
                                    : py_schema_find_plan(c->schema, sd);
        if (!plan || !plan->cls)
            return PyErr_Format(PyExc_TypeError, "no class bound for %s",
                                thrift_struct_def_name(sd));
        c->last_plan = plan;
        PyObject *small[32];
        PyObject **vals = plan->nfields <= 32 ? small : PyMem_Calloc(plan->nfields, sizeof *vals);
        if (!vals)
            return PyErr_NoMemory();
        PyObject *obj = NULL;
        if (read_struct_fields(wr, plan, vals) == 0) {
            obj = py_new_instance(plan);
            if (obj && py_assign_fields(obj, plan, vals) < 0)
                Py_CLEAR(obj);
            for (size_t i = 0; i < plan->nfields; i++)
                Py_DECREF(vals[i]);
        }
        if (vals != small)
            PyMem_Free(vals);
        return obj;
    }
    default:
        return PyErr_Format(PyExc_TypeError, "cannot decode a %s", kind_name(kind));
    }
}

/* The index of the field with wire id `id`, or -1; `hint` is where the
 * field after the previous one in id order would be. */
static inline Py_ssize_t field_index(const py_plan_t *plan, int16_t id, size_t *hint) {
    /* fields come in ascending id order (Apache's writers, ours): look
     * forward from after the previous one, past absent optional fields */
    for (size_t k = *hint; k < plan->nfields; k++) {
        size_t i = plan->by_id ? plan->by_id[k] : k;
        if (plan->fields[i].id == id) {
            *hint = k + 1;
            return (Py_ssize_t)i;
        }
        if (plan->fields[i].id > id)
            break;
    }
    for (size_t i = 0; i < plan->nfields; i++)
        if (plan->fields[i].id == id)
            return (Py_ssize_t)i;
    return -1;
}

/* Reads a struct into vals[0..nfields) (new references; absent fields get
 * their defaults) after the required/union checks.  0, or -1 with nothing
 * left in vals. */
static int read_struct_fields(py_wire_t *wr, const py_plan_t *plan, PyObject **vals) {
    thrift_reader_t *rd = wr->rd;
    for (size_t i = 0; i < plan->nfields; i++)
        vals[i] = NULL;
    int rc = -1;
    size_t hint = 0, seen = 0;
    if (thrift_reader_struct_begin(rd) != THRIFT_OK)
        goto out;
    for (;;) {
        /* the header and a scalar's value in one call */
        thrift_reader_field_t field;
        if (thrift_reader_field(rd, &field) != THRIFT_OK) {
            /* a scalar value that failed after its header: name the field */
            Py_ssize_t i = field.type == THRIFT_TYPE_STOP ? -1 : field_index(plan, field.id, &hint);
            if (i >= 0)
                err_path_prepend(wr->err, PyUnicode_AsUTF8(plan->fields[i].name), false);
            goto out;
        }
        if (field.type == THRIFT_TYPE_STOP)
            break;
        Py_ssize_t i = field_index(plan, field.id, &hint);
        if (i < 0) {
            if (!field.has_value && thrift_reader_skip(rd, field.type) != THRIFT_OK)
                goto out;
            continue;
        }
        const py_field_plan_t *f = &plan->fields[i];
        if (f->wire != field.type) {
            thrift_reader_fail(rd, THRIFT_TYPE, field.offset, "expected %s, got wire type %u",
                               type_name(f->type), (unsigned)field.type);
            err_path_prepend(wr->err, PyUnicode_AsUTF8(f->name), false);
            goto out;
        }
        PyObject *v = field.has_value ? scalar_to_py(wr, f->kind, &field)
                                      : read_value(wr, f->type, f->kind);
        if (!v) {
            err_path_prepend(wr->err, PyUnicode_AsUTF8(f->name), false);
            goto out;
        }
        seen += vals[i] == NULL;
        Py_XSETREF(vals[i], v);
    }
    if (thrift_reader_struct_end(rd) != THRIFT_OK)
        goto out;
    if (plan->kind == THRIFT_KIND_UNION) {
        if (wr->check_required && seen != 1) {
            thrift_reader_fail(rd, seen ? THRIFT_INVALID : THRIFT_MISSING,
                               thrift_reader_offset(rd),
                               "union %s has %zu fields set, expected exactly one",
                               thrift_struct_def_name(plan->def), seen);
            goto out;
        }
    }
    for (size_t i = 0; i < plan->nfields; i++) {
        if (vals[i])
            continue;
        if (plan->fields[i].required && wr->check_required &&
            plan->kind != THRIFT_KIND_UNION) {
            thrift_reader_fail(rd, THRIFT_MISSING, thrift_reader_offset(rd),
                               "required field missing");
            err_path_prepend(wr->err, PyUnicode_AsUTF8(plan->fields[i].name), false);
            goto out;
        }
        vals[i] = default_of(plan, i);
        if (!vals[i])
            goto out;
    }
    rc = 0;
out:
    if (rc < 0)
        for (size_t i = 0; i < plan->nfields; i++)
            Py_CLEAR(vals[i]);
    return rc;
}

/* ---- arenas and buffers ----------------------------------------------------------- */

bool py_codec_begin(py_codec_t *c, py_schema_t *so) {
    c->schema = so;
    c->depth = 0;
    c->last_plan = NULL;
    py_path_init(&c->path);
    if (!shared_busy && shared_arena && shared_buffer) {
        shared_busy = true;
        c->arena = shared_arena;
        c->buffer = shared_buffer;
        c->shared = true;
        return true;
    }
    c->shared = false;
    c->arena = thrift_arena_new(NULL);
    c->buffer = thrift_buffer_new();
    if (!c->arena || !c->buffer) {
        thrift_arena_free(c->arena);
        thrift_buffer_free(c->buffer);
        PyErr_NoMemory();
        return false;
    }
    return true;
}

void py_codec_end(py_codec_t *c) {
    if (c->shared) {
        thrift_arena_reset(c->arena);
        /* A huge message should not pin its buffer for the process's life. */
        if (thrift_buffer_len(c->buffer) > (1u << 20)) {
            thrift_buffer_free(shared_buffer);
            shared_buffer = thrift_buffer_new();
        } else {
            thrift_buffer_clear(c->buffer);
        }
        shared_busy = false;
    } else {
        thrift_arena_free(c->arena);
        thrift_buffer_free(c->buffer);
    }
    c->arena = NULL;
    c->buffer = NULL;
}

/* ---- module functions ------------------------------------------------------------ */

static bool proto_from_py(PyObject *o, thrift_protocol_t *out) {
    long p = PyLong_AsLong(o);
    if (p == -1 && PyErr_Occurred())
        return false;
    if (p != THRIFT_PROTO_BINARY && p != THRIFT_PROTO_COMPACT && p != THRIFT_PROTO_JSON) {
        PyErr_Format(PyExc_ValueError, "unknown protocol %ld", p);
        return false;
    }
    *out = (thrift_protocol_t)p;
    return true;
}

PyObject *py_codec_encode(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    (void)self;
    if (nargs != 2)
        return PyErr_Format(PyExc_TypeError, "encode() takes 2 arguments (%zd given)", nargs);
    PyObject *obj = args[0], *proto_obj = args[1];
    thrift_protocol_t proto;
    if (!proto_from_py(proto_obj, &proto))
        return NULL;
    py_schema_t *so;
    py_plan_t *plan = py_plan_of_class((PyObject *)Py_TYPE(obj), &so);
    if (!plan)
        return NULL;
    py_codec_t c;
    if (!py_codec_begin(&c, so))
        return NULL;
    PyObject *out = NULL;
    if (proto != THRIFT_PROTO_JSON) {
        /* binary, compact: straight from the objects to the wire */
        thrift_writer_t *w = thrift_writer_new(proto, c.buffer);
        if (!w) {
            PyErr_NoMemory();
        } else if (write_struct(&c, w, plan, obj) < 0) {
            py_path_raise(&c.path, thrift_struct_def_name(plan->def));
        } else {
            out = PyBytes_FromStringAndSize((const char *)thrift_buffer_data(c.buffer),
                                            (Py_ssize_t)thrift_buffer_len(c.buffer));
        }
        thrift_writer_free(w);
        py_codec_end(&c);
        return out;
    }
    thrift_value_t *sv = thrift_value_new_struct(c.arena, plan->def);
    if (!sv) {
        PyErr_NoMemory();
    } else if (py_struct_to_value(&c, sv, plan, obj) < 0) {
        py_path_raise(&c.path, thrift_struct_def_name(plan->def));
    } else {
        thrift_error_t err;
        thrift_error_clear(&err);
        if (thrift_encode(proto, sv, c.buffer, &err) != THRIFT_OK)
            py_raise_thrift_error(PyExc_ValueError, &err);
        else
            out = PyBytes_FromStringAndSize((const char *)thrift_buffer_data(c.buffer),
                                            (Py_ssize_t)thrift_buffer_len(c.buffer));
    }
    py_codec_end(&c);
    return out;
}

/* One reader per protocol reused by every call (the GIL serializes them);
 * a nested call gets its own. */
static thrift_reader_t *shared_readers[2];
static bool readers_busy;

/* Binary, compact: the objects straight from the wire.  Fills `target` (only
 * once all of it decoded) or returns a new instance when it is NULL. */
static PyObject *decode_from_wire(py_codec_t *c, const py_plan_t *plan, PyObject *target,
                                  thrift_protocol_t proto, const thrift_codec_options_t *opts,
                                  const void *data, size_t len, thrift_error_t *err) {
    thrift_reader_t *rd = NULL;
    bool shared = !readers_busy;
    if (shared) {
        if (!shared_readers[proto])
            shared_readers[proto] = thrift_reader_new(proto, opts);
        rd = shared_readers[proto];
    } else {
        rd = thrift_reader_new(proto, opts);
    }
    if (!rd)
        return PyErr_NoMemory();
    readers_busy = true;
    thrift_reader_begin(rd, data, len, err);
    py_wire_t wr;
    wr.c = c;
    wr.rd = rd;
    wr.err = err;
    wr.check_required = opts->check_required;
    memset(wr.strs, 0, sizeof wr.strs); /* str_keys are read only where strs is set */
    PyObject *small[32];
    PyObject **vals = plan->nfields <= 32 ? small : PyMem_Calloc(plan->nfields, sizeof *vals);
    PyObject *out = NULL;
    /* As in py_codec_decode: collecting while building finds nothing. */
    int gc_was_on = PyGC_Disable();
    if (!vals) {
        PyErr_NoMemory();
    } else if (read_struct_fields(&wr, plan, vals) == 0) {
        out = target ? target : py_new_instance(plan);
        if (out && target)
            Py_INCREF(out);
        if (out && py_assign_fields(out, plan, vals) < 0)
            Py_CLEAR(out);
        for (size_t i = 0; i < plan->nfields; i++)
            Py_DECREF(vals[i]);
    } else if (!PyErr_Occurred()) {
        if (err->path[0])
            err_path_prepend(err, thrift_struct_def_name(plan->def), false);
        else
            snprintf(err->path, sizeof err->path, "%s", thrift_struct_def_name(plan->def));
        py_raise_thrift_error(py_exc_decode, err);
    }
    str_cache_clear(&wr);
    if (gc_was_on)
        PyGC_Enable();
    if (vals && vals != small)
        PyMem_Free(vals);
    if (shared)
        readers_busy = false;
    else
        thrift_reader_free(rd);
    return out;
}

/* decode(cls_or_obj, data, protocol): fills `obj` (or a new instance of
 * `cls`) and returns it. */
PyObject *py_codec_decode(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    (void)self;
    if (nargs != 3)
        return PyErr_Format(PyExc_TypeError, "decode() takes 3 arguments (%zd given)", nargs);
    PyObject *target = args[0], *proto_obj = args[2];
    Py_buffer data;
    if (PyObject_GetBuffer(args[1], &data, PyBUF_SIMPLE) < 0)
        return NULL;
    thrift_protocol_t proto;
    PyObject *out = NULL;
    if (!proto_from_py(proto_obj, &proto)) {
        PyBuffer_Release(&data);
        return NULL;
    }
    bool is_class = PyType_Check(target);
    py_schema_t *so;
    py_plan_t *plan =
        py_plan_of_class(is_class ? target : (PyObject *)Py_TYPE(target), &so);
    if (!plan) {
        PyBuffer_Release(&data);
        return NULL;
    }
    py_codec_t c;
    if (!py_codec_begin(&c, so)) {
        PyBuffer_Release(&data);
        return NULL;
    }
    thrift_codec_options_t opts;
    thrift_codec_options_init(&opts);
    opts.zero_copy = true; /* the Python objects copy what they keep */
    thrift_error_t err;
    thrift_error_clear(&err);
    if (proto != THRIFT_PROTO_JSON) {
        out = decode_from_wire(&c, plan, is_class ? NULL : target, proto, &opts, data.buf,
                               (size_t)data.len, &err);
        py_codec_end(&c);
        PyBuffer_Release(&data);
        return out;
    }
    size_t consumed = 0;
    thrift_value_t *v = thrift_decode(proto, thrift_struct_def_type(plan->def), data.buf,
                                      (size_t)data.len, c.arena, &opts, &consumed, &err);
    if (!v) {
        py_raise_thrift_error(py_exc_decode, &err);
    } else {
        /* Every container made here stays alive: collecting the young
         * generation while building (every 700 allocations) finds nothing
         * to free, so the collector waits until the tree is built. */
        int gc_was_on = PyGC_Disable();
        if (is_class) {
            out = py_from_value(&c, v);
        } else if (py_fill_struct(&c, target, plan, v) == 0) {
            Py_INCREF(target);
            out = target;
        }
        if (gc_was_on)
            PyGC_Enable();
    }
    py_codec_end(&c);
    PyBuffer_Release(&data);
    return out;
}

int py_codec_init(PyObject *module) {
    (void)module;
    PyObject *copy = PyImport_ImportModule("copy");
    deepcopy_func = copy ? PyObject_GetAttrString(copy, "deepcopy") : NULL;
    Py_XDECREF(copy);
    str_bytes = PyUnicode_InternFromString("bytes");
    shared_arena = thrift_arena_new(NULL);
    shared_buffer = thrift_buffer_new();
    if (!deepcopy_func || !str_bytes)
        return -1;
    if (!shared_arena || !shared_buffer) {
        PyErr_NoMemory();
        return -1;
    }
    return 0;
}
