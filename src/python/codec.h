/* The binding's codec: Python objects <-> dynthrift values (codec.c), used
 * by the serializer and by the RPC parts. */
#ifndef DYNTHRIFT_PY_CODEC_H
#define DYNTHRIFT_PY_CODEC_H

#include "schema_obj.h"

/* A value path built while an error unwinds ("[3].address.zip"), and the
 * error's class and message, raised once at the top. */
typedef struct py_path {
    char buf[512];
    size_t start;   /* the path is buf[start..] */
    PyObject *exc;  /* borrowed exception class; NULL: no failure recorded */
    char msg[320];
} py_path_t;

void py_path_init(py_path_t *pp);
void py_path_push(py_path_t *pp, const char *fmt, ...);
int py_path_fail(py_path_t *pp, PyObject *exc, const char *fmt, ...);
/* Raises the recorded failure as "<root><path>: <message>". */
void py_path_raise(py_path_t *pp, const char *root);

/* One conversion: its arena, output buffer and error path.  Needs the GIL. */
typedef struct py_codec {
    py_schema_t *schema;      /* borrowed */
    thrift_arena_t *arena;
    thrift_buffer_t *buffer;
    const py_plan_t *last_plan; /* decode: a list of structs repeats one plan */
    py_path_t path;
    bool shared;
    unsigned depth; /* containers and structs being converted */
} py_codec_t;

/* Deepest nesting written (the decoders' default limit): deeper is an
 * error, and a Python object that contains itself ends here instead of
 * overflowing the C stack. */
#define PY_CODEC_MAX_DEPTH 64

/* Takes the shared arena and buffer, or new ones when they are in use;
 * false with MemoryError set. */
bool py_codec_begin(py_codec_t *c, py_schema_t *so);
void py_codec_end(py_codec_t *c);

/* Python -> value: -1 with the failure recorded in c->path (not raised). */
int py_to_value(py_codec_t *c, thrift_value_t *slot, const thrift_type_def_t *type,
                thrift_kind_t kind, PyObject *obj);
int py_struct_to_value(py_codec_t *c, thrift_value_t *sv, const py_plan_t *plan,
                       PyObject *obj);
/* value -> Python: new reference, or NULL with an exception raised. */
PyObject *py_from_value(py_codec_t *c, const thrift_value_t *v);
/* Sets every field of `obj` from struct value `v` (absent: the default). */
int py_fill_struct(py_codec_t *c, PyObject *obj, const py_plan_t *plan,
                   const thrift_value_t *v);
/* An instance of plan->cls made without running __init__. */
PyObject *py_new_instance(const py_plan_t *plan);

#endif
