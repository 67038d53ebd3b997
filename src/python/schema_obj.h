/* The Python binding's view of a loaded schema: the Schema object and the
 * per-struct plans the codec walks.  Shared by the files of src/python;
 * binds the public C API only (include/dynthrift). */
#ifndef DYNTHRIFT_PY_SCHEMA_OBJ_H
#define DYNTHRIFT_PY_SCHEMA_OBJ_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "dynthrift/proto.h"
#include "dynthrift/schema.h"
#include "dynthrift/value.h"

/* One struct/union/exception (or a function's args/result struct): what the
 * codec needs to move an instance of its Python class to and from values.
 * Owned by its Schema object; built once, when the schema is described. */
typedef struct py_field_plan {
    PyObject *name;                 /* interned attribute name */
    const thrift_type_def_t *type;  /* resolved */
    thrift_kind_t kind;             /* of `type` */
    bool required;
    int16_t id;                     /* the field id on the wire */
    thrift_wire_type_t wire;        /* of `type` */
} py_field_plan_t;

typedef struct py_plan {
    const thrift_struct_def_t *def;
    thrift_kind_t kind;       /* STRUCT, UNION or EXCEPTION */
    size_t id;                /* index in the schema's plan table */
    size_t nfields;
    py_field_plan_t *fields;
    /* Field indexes in ascending id order, the order Apache's writers (and
     * thrift_encode) put fields on the wire; NULL when `fields` already is. */
    size_t *by_id;
    PyObject *cls;            /* the Python class (NULL until bound) */
    PyObject *defaults;       /* tuple: a field's value when absent on decode */
    unsigned char *copy_default; /* per field: deep-copy the default (mutable) */
} py_plan_t;

typedef struct py_schema {
    PyObject_HEAD
    thrift_schema_t *schema;
    py_plan_t **plans;        /* by id */
    size_t nplans, cap_plans;
    /* struct_def pointer -> plan, open addressing (power-of-two size). */
    py_plan_t **index;
    size_t index_cap;
} py_schema_t;

extern PyTypeObject py_schema_type;

/* The plan of `def`, made on first use; NULL with MemoryError set. */
py_plan_t *py_schema_plan(py_schema_t *so, const thrift_struct_def_t *def);
/* The plan of `def` if it exists (no allocation). */
py_plan_t *py_schema_find_plan(const py_schema_t *so, const thrift_struct_def_t *def);

/* Module-level objects (created at import). */
extern PyObject *py_exc_parser_error; /* ThriftParserError */
extern PyObject *py_exc_texception;   /* TException */
extern PyObject *py_exc_decode;       /* TDecodeException (TException) */
extern PyObject *py_str_dt_plan;      /* "_dt_plan" */
extern PyObject *py_empty_tuple;

/* Schema methods and module functions defined in codec.c. */
/* METH_FASTCALL: they are the codec's per-call entry points, and a
 * METH_VARARGS call would build and parse an argument tuple each time. */
PyObject *py_codec_encode(PyObject *self, PyObject *const *args, Py_ssize_t nargs);
PyObject *py_codec_decode(PyObject *self, PyObject *const *args, Py_ssize_t nargs);
int py_codec_init(PyObject *module);

/* Raises `exc` with a rendered thrift_error_t. */
void py_raise_thrift_error(PyObject *exc, const thrift_error_t *err);

/* The plan a struct class was bound to (its `_dt_plan` capsule), with the
 * Schema object that owns it (borrowed; the class keeps it alive).  NULL
 * with TypeError set when `cls` is not a dynthrift struct class. */
py_plan_t *py_plan_of_class(PyObject *cls, py_schema_t **schema_out);

#endif
