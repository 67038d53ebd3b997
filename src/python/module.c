/* dynthrift._dynthrift: loading schemas and describing them to the Python
 * package, which builds the classes (dynthrift/parser.py).  The codec lives
 * in codec.c. */
#include <string.h>

#include "rpc.h"
#include "schema_obj.h"

PyObject *py_exc_parser_error;
PyObject *py_exc_texception;
PyObject *py_exc_decode;
PyObject *py_str_dt_plan;
PyObject *py_empty_tuple;

void py_raise_thrift_error(PyObject *exc, const thrift_error_t *err) {
    char text[1024];
    thrift_error_render(err, false, text, sizeof text);
    PyErr_SetString(exc, text);
}

/* ---- plans ---------------------------------------------------------------- */

static size_t ptr_hash(const void *p) {
    uintptr_t x = (uintptr_t)p;
    x ^= x >> 17;
    x *= 0x9e3779b97f4a7c15ull;
    return (size_t)(x ^ (x >> 29));
}

py_plan_t *py_schema_find_plan(const py_schema_t *so, const thrift_struct_def_t *def) {
    if (!so->index_cap)
        return NULL;
    size_t mask = so->index_cap - 1;
    for (size_t i = ptr_hash(def) & mask;; i = (i + 1) & mask) {
        py_plan_t *p = so->index[i];
        if (!p)
            return NULL;
        if (p->def == def)
            return p;
    }
}

static bool index_insert(py_schema_t *so, py_plan_t *plan) {
    if ((so->nplans + 1) * 2 > so->index_cap) {
        size_t cap = so->index_cap ? so->index_cap * 2 : 64;
        py_plan_t **idx = PyMem_Calloc(cap, sizeof *idx);
        if (!idx)
            return false;
        for (size_t k = 0; k < so->index_cap; k++) {
            py_plan_t *p = so->index[k];
            if (!p)
                continue;
            size_t i = ptr_hash(p->def) & (cap - 1);
            while (idx[i])
                i = (i + 1) & (cap - 1);
            idx[i] = p;
        }
        PyMem_Free(so->index);
        so->index = idx;
        so->index_cap = cap;
    }
    size_t mask = so->index_cap - 1;
    size_t i = ptr_hash(plan->def) & mask;
    while (so->index[i])
        i = (i + 1) & mask;
    so->index[i] = plan;
    return true;
}

static void plan_free(py_plan_t *p) {
    if (!p)
        return;
    for (size_t i = 0; i < p->nfields; i++)
        Py_XDECREF(p->fields[i].name);
    PyMem_Free(p->fields);
    PyMem_Free(p->by_id);
    PyMem_Free(p->copy_default);
    Py_XDECREF(p->cls);
    Py_XDECREF(p->defaults);
    PyMem_Free(p);
}

py_plan_t *py_schema_plan(py_schema_t *so, const thrift_struct_def_t *def) {
    py_plan_t *p = py_schema_find_plan(so, def);
    if (p)
        return p;
    if (so->nplans == so->cap_plans) {
        size_t cap = so->cap_plans ? so->cap_plans * 2 : 32;
        py_plan_t **plans = PyMem_Realloc(so->plans, cap * sizeof *plans);
        if (!plans)
            return (py_plan_t *)PyErr_NoMemory();
        so->plans = plans;
        so->cap_plans = cap;
    }
    p = PyMem_Calloc(1, sizeof *p);
    if (!p)
        return (py_plan_t *)PyErr_NoMemory();
    p->def = def;
    p->kind = thrift_struct_def_kind(def);
    p->nfields = thrift_struct_def_field_count(def);
    p->fields = PyMem_Calloc(p->nfields ? p->nfields : 1, sizeof *p->fields);
    if (!p->fields)
        goto nomem;
    for (size_t i = 0; i < p->nfields; i++) {
        const thrift_field_def_t *f = thrift_struct_def_field_at(def, i);
        py_field_plan_t *fp = &p->fields[i];
        fp->name = PyUnicode_InternFromString(thrift_field_def_name(f));
        if (!fp->name) {
            plan_free(p);
            return NULL;
        }
        fp->type = thrift_type_def_resolved(thrift_field_def_type(f));
        fp->kind = thrift_type_def_kind(fp->type);
        fp->required = thrift_field_def_requiredness(f) == THRIFT_REQ_REQUIRED;
        fp->id = (int16_t)thrift_field_def_id(f);
        fp->wire = thrift_type_def_wire_type(fp->type);
    }
    bool ascending = true;
    for (size_t i = 1; i < p->nfields; i++)
        ascending = ascending && p->fields[i - 1].id < p->fields[i].id;
    if (!ascending) {
        p->by_id = PyMem_Malloc(p->nfields * sizeof *p->by_id);
        if (!p->by_id)
            goto nomem;
        for (size_t i = 0; i < p->nfields; i++) { /* insertion sort: few fields */
            size_t j = i;
            for (; j > 0 && p->fields[p->by_id[j - 1]].id > p->fields[i].id; j--)
                p->by_id[j] = p->by_id[j - 1];
            p->by_id[j] = i;
        }
    }
    p->id = so->nplans;
    if (!index_insert(so, p))
        goto nomem;
    so->plans[so->nplans++] = p;
    return p;
nomem:
    plan_free(p);
    return (py_plan_t *)PyErr_NoMemory();
}

py_plan_t *py_plan_of_class(PyObject *cls, py_schema_t **schema_out) {
    PyObject *cap = PyObject_GetAttr(cls, py_str_dt_plan);
    if (!cap || !PyTuple_Check(cap) || PyTuple_GET_SIZE(cap) != 2 ||
        !PyObject_TypeCheck(PyTuple_GET_ITEM(cap, 0), &py_schema_type)) {
        Py_XDECREF(cap);
        PyErr_Format(PyExc_TypeError, "%R is not a dynthrift struct class", cls);
        return NULL;
    }
    py_schema_t *so = (py_schema_t *)PyTuple_GET_ITEM(cap, 0);
    Py_ssize_t id = PyLong_AsSsize_t(PyTuple_GET_ITEM(cap, 1));
    Py_DECREF(cap); /* the class holds the tuple, the tuple the schema */
    if (id < 0 || (size_t)id >= so->nplans) {
        if (!PyErr_Occurred())
            PyErr_Format(PyExc_TypeError, "%R: bad _dt_plan", cls);
        return NULL;
    }
    if (schema_out)
        *schema_out = so;
    return so->plans[id];
}

/* ---- the Schema object ------------------------------------------------------ */

static void schema_dealloc(py_schema_t *so) {
    for (size_t i = 0; i < so->nplans; i++)
        plan_free(so->plans[i]);
    PyMem_Free(so->plans);
    PyMem_Free(so->index);
    thrift_schema_unref(so->schema);
    Py_TYPE(so)->tp_free((PyObject *)so);
}

static PyObject *schema_wrap(thrift_schema_t *schema) {
    py_schema_t *so = PyObject_New(py_schema_t, &py_schema_type);
    if (!so) {
        thrift_schema_unref(schema);
        return NULL;
    }
    so->schema = schema;
    so->plans = NULL;
    so->nplans = so->cap_plans = 0;
    so->index = NULL;
    so->index_cap = 0;
    return (PyObject *)so;
}

/* A type as the package reads it: (kind,) for base types, (kind, plan id)
 * for structs, (kind, module, name) for enums, (kind, elem) for lists and
 * sets, (kind, key, value) for maps. */
static PyObject *type_desc(py_schema_t *so, const thrift_type_def_t *t) {
    t = thrift_type_def_resolved(t);
    thrift_kind_t kind = thrift_type_def_kind(t);
    switch (kind) {
    case THRIFT_KIND_ENUM: {
        const thrift_enum_def_t *e = thrift_type_def_enum(t);
        return Py_BuildValue("(iss)", (int)kind,
                             thrift_module_def_name(thrift_enum_def_module(e)),
                             thrift_enum_def_name(e));
    }
    case THRIFT_KIND_STRUCT:
    case THRIFT_KIND_UNION:
    case THRIFT_KIND_EXCEPTION: {
        py_plan_t *p = py_schema_plan(so, thrift_type_def_struct(t));
        return p ? Py_BuildValue("(in)", (int)kind, (Py_ssize_t)p->id) : NULL;
    }
    case THRIFT_KIND_LIST:
    case THRIFT_KIND_SET: {
        PyObject *elem = type_desc(so, thrift_type_def_elem(t));
        return elem ? Py_BuildValue("(iN)", (int)kind, elem) : NULL;
    }
    case THRIFT_KIND_MAP: {
        PyObject *k = type_desc(so, thrift_type_def_key(t));
        PyObject *v = k ? type_desc(so, thrift_type_def_value(t)) : NULL;
        if (!v) {
            Py_XDECREF(k);
            return NULL;
        }
        return Py_BuildValue("(iNN)", (int)kind, k, v);
    }
    default:
        return Py_BuildValue("(i)", (int)kind);
    }
}

/* An evaluated constant in raw form: ints, floats, str, bytes, uuid text,
 * lists (also for sets), lists of (key, value) pairs for maps, and
 * ("struct", plan id, [(field, raw)...]) for structs; the package shapes
 * it by its type. */
static PyObject *const_raw(py_schema_t *so, const thrift_const_value_t *cv) {
    const thrift_type_def_t *t = thrift_type_def_resolved(thrift_const_value_type(cv));
    thrift_kind_t kind = thrift_type_def_kind(t);
    size_t n, len;
    const char *s;
    switch (kind) {
    case THRIFT_KIND_BOOL:
        return PyBool_FromLong(thrift_const_value_int(cv) != 0);
    case THRIFT_KIND_I8:
    case THRIFT_KIND_I16:
    case THRIFT_KIND_I32:
    case THRIFT_KIND_I64:
    case THRIFT_KIND_ENUM:
        return PyLong_FromLongLong(thrift_const_value_int(cv));
    case THRIFT_KIND_DOUBLE:
        return PyFloat_FromDouble(thrift_const_value_double(cv));
    case THRIFT_KIND_STRING:
    case THRIFT_KIND_UUID:
        s = thrift_const_value_string(cv, &len);
        return PyUnicode_DecodeUTF8(s ? s : "", (Py_ssize_t)len, "surrogateescape");
    case THRIFT_KIND_BINARY:
        s = thrift_const_value_string(cv, &len);
        return PyBytes_FromStringAndSize(s ? s : "", (Py_ssize_t)len);
    case THRIFT_KIND_LIST:
    case THRIFT_KIND_SET:
    case THRIFT_KIND_MAP:
    case THRIFT_KIND_STRUCT:
    case THRIFT_KIND_UNION:
    case THRIFT_KIND_EXCEPTION: {
        n = thrift_const_value_count(cv);
        PyObject *list = PyList_New((Py_ssize_t)n);
        if (!list)
            return NULL;
        for (size_t i = 0; i < n; i++) {
            PyObject *item;
            if (kind == THRIFT_KIND_LIST || kind == THRIFT_KIND_SET) {
                item = const_raw(so, thrift_const_value_item(cv, i));
            } else if (kind == THRIFT_KIND_MAP) {
                PyObject *k = const_raw(so, thrift_const_value_map_key(cv, i));
                PyObject *v = k ? const_raw(so, thrift_const_value_map_value(cv, i)) : NULL;
                item = v ? PyTuple_Pack(2, k, v) : NULL;
                Py_XDECREF(k);
                Py_XDECREF(v);
            } else {
                const thrift_field_def_t *f = thrift_const_value_struct_field(cv, i);
                PyObject *v = const_raw(so, thrift_const_value_struct_value(cv, i));
                item = v ? Py_BuildValue("(sN)", thrift_field_def_name(f), v) : NULL;
            }
            if (!item) {
                Py_DECREF(list);
                return NULL;
            }
            PyList_SET_ITEM(list, (Py_ssize_t)i, item);
        }
        if (kind == THRIFT_KIND_STRUCT || kind == THRIFT_KIND_UNION ||
            kind == THRIFT_KIND_EXCEPTION) {
            py_plan_t *p = py_schema_plan(so, thrift_type_def_struct(t));
            if (!p) {
                Py_DECREF(list);
                return NULL;
            }
            return Py_BuildValue("(snN)", "struct", (Py_ssize_t)p->id, list);
        }
        return list;
    }
    default:
        Py_RETURN_NONE;
    }
}

/* (plan id, name, kind, [(id, name, type, required, default raw | None,
 * has default)...]) */
static PyObject *struct_desc(py_schema_t *so, const thrift_struct_def_t *sd) {
    py_plan_t *p = py_schema_plan(so, sd);
    if (!p)
        return NULL;
    size_t n = thrift_struct_def_field_count(sd);
    PyObject *fields = PyList_New((Py_ssize_t)n);
    if (!fields)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        const thrift_field_def_t *f = thrift_struct_def_field_at(sd, i);
        PyObject *td = type_desc(so, thrift_field_def_type(f));
        const thrift_const_value_t *dv = thrift_field_def_default(f);
        PyObject *raw = td ? (dv ? const_raw(so, dv) : (Py_INCREF(Py_None), Py_None)) : NULL;
        PyObject *item = raw ? Py_BuildValue("(isNiNO)", thrift_field_def_id(f),
                                             thrift_field_def_name(f), td,
                                             (int)thrift_field_def_requiredness(f), raw,
                                             dv ? Py_True : Py_False)
                             : NULL;
        if (!item) {
            if (!raw)
                Py_XDECREF(td);
            Py_DECREF(fields);
            return NULL;
        }
        PyList_SET_ITEM(fields, (Py_ssize_t)i, item);
    }
    return Py_BuildValue("(nsiN)", (Py_ssize_t)p->id, thrift_struct_def_name(sd),
                         (int)thrift_struct_def_kind(sd), fields);
}

static int dict_set_new(PyObject *d, const char *key, PyObject *v) {
    if (!v)
        return -1;
    int rc = PyDict_SetItemString(d, key, v);
    Py_DECREF(v);
    return rc;
}

#define LIST_OF_(count_fn, at_fn, owner, build)                               \
    do {                                                                      \
        size_t n_ = count_fn(owner);                                          \
        list = PyList_New((Py_ssize_t)n_);                                    \
        if (!list)                                                            \
            goto fail;                                                        \
        for (size_t i_ = 0; i_ < n_; i_++) {                                  \
            PyObject *item_ = build(so, at_fn(owner, i_));                    \
            if (!item_)                                                       \
                goto fail;                                                    \
            PyList_SET_ITEM(list, (Py_ssize_t)i_, item_);                     \
        }                                                                     \
    } while (0)

static PyObject *enum_desc(py_schema_t *so, const thrift_enum_def_t *e) {
    (void)so;
    size_t n = thrift_enum_def_value_count(e);
    PyObject *values = PyList_New((Py_ssize_t)n);
    if (!values)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        const thrift_enum_value_def_t *v = thrift_enum_def_value_at(e, i);
        PyObject *item = Py_BuildValue("(si)", thrift_enum_value_def_name(v),
                                       (int)thrift_enum_value_def_number(v));
        if (!item) {
            Py_DECREF(values);
            return NULL;
        }
        PyList_SET_ITEM(values, (Py_ssize_t)i, item);
    }
    return Py_BuildValue("(sN)", thrift_enum_def_name(e), values);
}

static PyObject *const_desc(py_schema_t *so, const thrift_const_def_t *c) {
    PyObject *td = type_desc(so, thrift_const_def_type(c));
    PyObject *raw = td ? const_raw(so, thrift_const_def_value(c)) : NULL;
    if (!raw) {
        Py_XDECREF(td);
        return NULL;
    }
    return Py_BuildValue("(sNN)", thrift_const_def_name(c), td, raw);
}

/* (name, oneway, args struct desc, result struct desc) */
static PyObject *function_desc(py_schema_t *so, const thrift_function_def_t *f) {
    PyObject *args = struct_desc(so, thrift_function_def_args(f));
    PyObject *result = args ? struct_desc(so, thrift_function_def_result(f)) : NULL;
    if (!result) {
        Py_XDECREF(args);
        return NULL;
    }
    return Py_BuildValue("(sONN)", thrift_function_def_name(f),
                         thrift_function_def_is_oneway(f) ? Py_True : Py_False, args, result);
}

static PyObject *service_desc(py_schema_t *so, const thrift_service_def_t *s) {
    PyObject *list = NULL;
    LIST_OF_(thrift_service_def_function_count, thrift_service_def_function_at, s,
             function_desc);
    const thrift_service_def_t *parent = thrift_service_def_parent(s);
    PyObject *parent_desc;
    if (parent)
        parent_desc = Py_BuildValue("(ss)",
                                    thrift_module_def_name(thrift_service_def_module(parent)),
                                    thrift_service_def_name(parent));
    else
        parent_desc = (Py_INCREF(Py_None), Py_None);
    if (!parent_desc)
        goto fail;
    return Py_BuildValue("(sNN)", thrift_service_def_name(s), parent_desc, list);
fail:
    Py_XDECREF(list);
    return NULL;
}

static PyObject *include_name(py_schema_t *so, const thrift_module_def_t *m) {
    (void)so;
    return PyUnicode_FromString(thrift_module_def_name(m));
}

static PyObject *module_desc(py_schema_t *so, const thrift_module_def_t *m) {
    PyObject *d = PyDict_New(), *list = NULL;
    if (!d)
        return NULL;
    const char *path = thrift_module_def_path(m);
    if (dict_set_new(d, "name", PyUnicode_FromString(thrift_module_def_name(m))) < 0 ||
        dict_set_new(d, "path", PyUnicode_FromString(path ? path : "")) < 0)
        goto fail;
    LIST_OF_(thrift_module_def_include_count, thrift_module_def_include_at, m, include_name);
    if (dict_set_new(d, "includes", list) < 0)
        goto fail_d;
    LIST_OF_(thrift_module_def_enum_count, thrift_module_def_enum_at, m, enum_desc);
    if (dict_set_new(d, "enums", list) < 0)
        goto fail_d;
    LIST_OF_(thrift_module_def_struct_count, thrift_module_def_struct_at, m, struct_desc);
    if (dict_set_new(d, "structs", list) < 0)
        goto fail_d;
    LIST_OF_(thrift_module_def_const_count, thrift_module_def_const_at, m, const_desc);
    if (dict_set_new(d, "consts", list) < 0)
        goto fail_d;
    LIST_OF_(thrift_module_def_service_count, thrift_module_def_service_at, m, service_desc);
    if (dict_set_new(d, "services", list) < 0)
        goto fail_d;
    return d;
fail:
    Py_XDECREF(list);
fail_d:
    Py_DECREF(d);
    return NULL;
}

static PyObject *schema_describe(py_schema_t *so, PyObject *unused) {
    (void)unused;
    size_t n = thrift_schema_module_count(so->schema);
    PyObject *list = PyList_New((Py_ssize_t)n);
    if (!list)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        PyObject *m = module_desc(so, thrift_schema_module_at(so->schema, i));
        if (!m) {
            Py_DECREF(list);
            return NULL;
        }
        PyList_SET_ITEM(list, (Py_ssize_t)i, m);
    }
    return list;
}

/* bind(plan id, cls, defaults tuple, copy flags tuple): ties a class to its
 * plan and sets cls._dt_plan = (schema, id).  The class and the schema then
 * keep each other alive (a cycle through C the collector does not see): a
 * loaded schema lives as long as the process, as thriftpy's modules do
 * (dynthrift.load caches them anyway). */
static PyObject *schema_bind(py_schema_t *so, PyObject *args) {
    Py_ssize_t id;
    PyObject *cls, *defaults, *copy;
    if (!PyArg_ParseTuple(args, "nOO!O!:bind", &id, &cls, &PyTuple_Type, &defaults,
                          &PyTuple_Type, &copy))
        return NULL;
    if (id < 0 || (size_t)id >= so->nplans)
        return PyErr_Format(PyExc_ValueError, "no plan %zd", id);
    py_plan_t *p = so->plans[id];
    if ((size_t)PyTuple_GET_SIZE(defaults) != p->nfields ||
        PyTuple_GET_SIZE(copy) != PyTuple_GET_SIZE(defaults))
        return PyErr_Format(PyExc_ValueError, "%s: %zu defaults expected",
                            thrift_struct_def_name(p->def), p->nfields);
    if (!PyType_Check(cls))
        return PyErr_Format(PyExc_TypeError, "bind: a class expected");
    unsigned char *flags = PyMem_Calloc(p->nfields ? p->nfields : 1, 1);
    if (!flags)
        return PyErr_NoMemory();
    for (size_t i = 0; i < p->nfields; i++)
        flags[i] = (unsigned char)PyObject_IsTrue(PyTuple_GET_ITEM(copy, (Py_ssize_t)i));
    PyObject *tag = Py_BuildValue("(On)", (PyObject *)so, id);
    if (!tag || PyObject_SetAttr(cls, py_str_dt_plan, tag) < 0) {
        Py_XDECREF(tag);
        PyMem_Free(flags);
        return NULL;
    }
    Py_DECREF(tag);
    PyMem_Free(p->copy_default);
    p->copy_default = flags;
    Py_INCREF(cls);
    Py_XSETREF(p->cls, cls);
    Py_INCREF(defaults);
    Py_XSETREF(p->defaults, defaults);
    Py_RETURN_NONE;
}

static PyObject *schema_main_module(py_schema_t *so, PyObject *unused) {
    (void)unused;
    return PyUnicode_FromString(
        thrift_module_def_name(thrift_schema_main_module(so->schema)));
}

static PyMethodDef schema_methods[] = {
    {"describe", (PyCFunction)schema_describe, METH_NOARGS,
     "Every module as a dict of plain descriptions (for dynthrift.parser)."},
    {"bind", (PyCFunction)schema_bind, METH_VARARGS,
     "bind(plan_id, cls, defaults, copy_flags): the class the codec builds."},
    {"main_module", (PyCFunction)schema_main_module, METH_NOARGS,
     "The main module's name."},
    {NULL, NULL, 0, NULL}};

PyTypeObject py_schema_type = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "dynthrift._dynthrift.Schema",
    .tp_basicsize = sizeof(py_schema_t),
    .tp_dealloc = (destructor)schema_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "A loaded schema (thrift_schema_t).",
    .tp_methods = schema_methods,
};

/* ---- loading ---------------------------------------------------------------- */

typedef struct resolver_ctx {
    PyObject *resolver; /* callable(includer, path) -> str | bytes | None */
    bool failed;        /* the resolver raised: keep its exception */
} resolver_ctx_t;

static bool resolve_include(thrift_include_request_t *req, const char *includer,
                            const char *path, void *ud) {
    resolver_ctx_t *rc = ud;
    if (rc->failed)
        return false;
    PyObject *text = PyObject_CallFunction(rc->resolver, "ss", includer, path);
    if (!text) {
        rc->failed = true;
        return false;
    }
    bool found = false;
    const char *p = NULL;
    Py_ssize_t n = 0;
    if (PyUnicode_Check(text))
        p = PyUnicode_AsUTF8AndSize(text, &n);
    else if (PyBytes_Check(text))
        PyBytes_AsStringAndSize(text, (char **)&p, &n);
    else if (text != Py_None) {
        PyErr_Format(PyExc_TypeError, "include resolver returned %.80s for '%s': str, bytes or None expected",
                     Py_TYPE(text)->tp_name, path);
        rc->failed = true;
    }
    if (p) {
        thrift_include_provide(req, path, p, (size_t)n);
        found = true;
    } else if (PyErr_Occurred()) {
        rc->failed = true;
    }
    Py_DECREF(text);
    return found;
}

/* include_dirs: a sequence of str, or None.  Fills a PyMem array of
 * borrowed UTF-8 pointers kept alive by *keep (a list). */
static bool dirs_from_py(PyObject *dirs, const char ***out, size_t *count, PyObject **keep) {
    *out = NULL;
    *count = 0;
    *keep = NULL;
    if (!dirs || dirs == Py_None)
        return true;
    PyObject *seq = PySequence_List(dirs);
    if (!seq)
        return false;
    Py_ssize_t n = PyList_GET_SIZE(seq);
    const char **arr = PyMem_Calloc((size_t)n + 1, sizeof *arr);
    if (!arr) {
        Py_DECREF(seq);
        PyErr_NoMemory();
        return false;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *item = PyList_GET_ITEM(seq, i);
        PyObject *fs = NULL;
        if (!PyUnicode_FSConverter(item, &fs)) {
            PyMem_Free(arr);
            Py_DECREF(seq);
            return false;
        }
        PyList_SET_ITEM(seq, i, fs); /* steals fs, drops item */
        Py_DECREF(item);
        arr[i] = PyBytes_AS_STRING(fs);
    }
    *out = arr;
    *count = (size_t)n;
    *keep = seq;
    return true;
}

static PyObject *py_load(PyObject *self, PyObject *args, PyObject *kw) {
    (void)self;
    static char *kwlist[] = {"path", "include_dirs", NULL};
    PyObject *path_obj = NULL, *dirs = Py_None;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "O&|O:load", kwlist, PyUnicode_FSConverter,
                                     &path_obj, &dirs))
        return NULL;
    thrift_load_options_t opts = {0};
    PyObject *keep = NULL;
    const char **arr = NULL;
    if (!dirs_from_py(dirs, &arr, &opts.include_dir_count, &keep)) {
        Py_DECREF(path_obj);
        return NULL;
    }
    opts.include_dirs = arr;
    thrift_error_t err;
    thrift_error_clear(&err);
    thrift_schema_t *schema;
    Py_BEGIN_ALLOW_THREADS
    schema = thrift_load_ex(PyBytes_AS_STRING(path_obj), &opts, &err);
    Py_END_ALLOW_THREADS
    PyMem_Free(arr);
    Py_XDECREF(keep);
    Py_DECREF(path_obj);
    if (!schema) {
        py_raise_thrift_error(py_exc_parser_error, &err);
        return NULL;
    }
    return schema_wrap(schema);
}

static PyObject *py_loads(PyObject *self, PyObject *args, PyObject *kw) {
    (void)self;
    static char *kwlist[] = {"name", "text", "include_dirs", "resolver", NULL};
    const char *name;
    const char *text;
    Py_ssize_t len;
    PyObject *dirs = Py_None, *resolver = Py_None;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "ss#|OO:loads", kwlist, &name, &text, &len,
                                     &dirs, &resolver))
        return NULL;
    thrift_load_options_t opts = {0};
    PyObject *keep = NULL;
    const char **arr = NULL;
    if (!dirs_from_py(dirs, &arr, &opts.include_dir_count, &keep))
        return NULL;
    opts.include_dirs = arr;
    resolver_ctx_t rc = {resolver, false};
    if (resolver != Py_None) {
        if (!PyCallable_Check(resolver)) {
            PyMem_Free(arr);
            Py_XDECREF(keep);
            return PyErr_Format(PyExc_TypeError, "resolver must be callable");
        }
        opts.include_cb = resolve_include;
        opts.include_ud = &rc;
    }
    thrift_error_t err;
    thrift_error_clear(&err);
    /* The resolver is Python code: keep the GIL. */
    thrift_schema_t *schema = thrift_load_string(name, text, (size_t)len, &opts, &err);
    PyMem_Free(arr);
    Py_XDECREF(keep);
    if (!schema) {
        if (rc.failed && PyErr_Occurred())
            return NULL;
        PyErr_Clear();
        py_raise_thrift_error(py_exc_parser_error, &err);
        return NULL;
    }
    if (rc.failed) { /* the resolver raised, yet the load went on: report it */
        thrift_schema_unref(schema);
        if (!PyErr_Occurred())
            PyErr_SetString(py_exc_parser_error, "the include resolver failed");
        return NULL;
    }
    return schema_wrap(schema);
}

static PyMethodDef module_methods[] = {
    {"load", (PyCFunction)(void (*)(void))py_load, METH_VARARGS | METH_KEYWORDS,
     "load(path, include_dirs=None) -> Schema"},
    {"loads", (PyCFunction)(void (*)(void))py_loads, METH_VARARGS | METH_KEYWORDS,
     "loads(name, text, include_dirs=None, resolver=None) -> Schema"},
    {"encode", (PyCFunction)(void (*)(void))py_codec_encode, METH_FASTCALL,
     "encode(obj, protocol) -> bytes: a struct instance on the wire"},
    {"decode", (PyCFunction)(void (*)(void))py_codec_decode, METH_FASTCALL,
     "decode(cls_or_obj, data, protocol) -> obj"},
    {NULL, NULL, 0, NULL}};

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT, "dynthrift._dynthrift",
    "The C part of dynthrift: schemas, codec and RPC on the dynthrift engine.", -1,
    module_methods, NULL, NULL, NULL, NULL};

PyMODINIT_FUNC PyInit__dynthrift(void);
PyMODINIT_FUNC PyInit__dynthrift(void) {
    if (PyType_Ready(&py_schema_type) < 0)
        return NULL;
    PyObject *m = PyModule_Create(&module_def);
    if (!m)
        return NULL;
    py_str_dt_plan = PyUnicode_InternFromString("_dt_plan");
    py_empty_tuple = PyTuple_New(0);
    py_exc_parser_error = PyErr_NewExceptionWithDoc(
        "dynthrift._dynthrift.ThriftParserError",
        "An IDL file failed to load; the message starts with file:line:col.", NULL, NULL);
    py_exc_texception = PyErr_NewExceptionWithDoc(
        "dynthrift._dynthrift.TException", "Base of every Thrift exception.", NULL, NULL);
    py_exc_decode = py_exc_texception
                        ? PyErr_NewExceptionWithDoc(
                              "dynthrift._dynthrift.TDecodeException",
                              "Bytes that do not decode as the expected type.",
                              py_exc_texception, NULL)
                        : NULL;
    if (!py_str_dt_plan || !py_empty_tuple || !py_exc_parser_error || !py_exc_decode)
        goto fail;
    Py_INCREF(&py_schema_type);
    Py_INCREF(py_exc_parser_error);
    Py_INCREF(py_exc_texception);
    Py_INCREF(py_exc_decode);
    if (PyModule_AddObject(m, "Schema", (PyObject *)&py_schema_type) < 0 ||
        PyModule_AddObject(m, "ThriftParserError", py_exc_parser_error) < 0 ||
        PyModule_AddObject(m, "TException", py_exc_texception) < 0 ||
        PyModule_AddObject(m, "TDecodeException", py_exc_decode) < 0)
        goto fail;
    static const struct {
        const char *name;
        int value;
    } ints[] = {
#define K_(n) {"KIND_" #n, THRIFT_KIND_##n}
        K_(VOID), K_(BOOL), K_(I8), K_(I16), K_(I32), K_(I64), K_(DOUBLE),
        K_(STRING), K_(BINARY), K_(UUID), K_(ENUM), K_(LIST), K_(SET), K_(MAP),
        K_(STRUCT), K_(UNION), K_(EXCEPTION),
#undef K_
        {"PROTO_BINARY", THRIFT_PROTO_BINARY},
        {"PROTO_COMPACT", THRIFT_PROTO_COMPACT},
        {"PROTO_JSON", THRIFT_PROTO_JSON},
        {"REQ_DEFAULT", THRIFT_REQ_DEFAULT},
        {"REQ_REQUIRED", THRIFT_REQ_REQUIRED},
        {"REQ_OPTIONAL", THRIFT_REQ_OPTIONAL},
    };
    for (size_t i = 0; i < sizeof ints / sizeof ints[0]; i++)
        if (PyModule_AddIntConstant(m, ints[i].name, ints[i].value) < 0)
            goto fail;
    if (py_codec_init(m) < 0 || py_rpc_init(m) < 0)
        goto fail;
    return m;
fail:
    Py_DECREF(m);
    return NULL;
}
