/* Blocking RPC types of the binding (rpc.c). */
#ifndef DYNTHRIFT_PY_RPC_H
#define DYNTHRIFT_PY_RPC_H

#include "codec.h"

#include "dynthrift/net.h"

/* What a finished call produced (fields as thrift_result_t gives them). */
typedef struct py_call_outcome {
    thrift_status_t status;
    thrift_error_t err;
    int app_type;
    const thrift_value_t *value; /* success value or declared exception */
} py_call_outcome_t;

/* The call's Python value, or NULL with its exception raised (a declared
 * exception as itself, TApplicationException, TTransportException...). */
PyObject *py_call_outcome(py_schema_t *so, const py_call_outcome_t *o);
/* The args value of `method` of `service`, built from `argobj` (an
 * instance of the method's args class) in c->arena; NULL with the
 * exception raised (AttributeError, TypeError, or the value's path). */
thrift_value_t *py_args_value(py_schema_t *so, const thrift_service_def_t *service,
                              py_codec_t *c, const char *method, PyObject *argobj);
/* Takes the current exception: returns it normalized (a new reference,
 * its traceback attached), the error indicator cleared; None if none. */
PyObject *py_take_exception(void);
/* Sets connection options from a dict of text keys (thrift_conn_options_set);
 * false with TypeError (unknown key) or ValueError raised. */
bool py_conn_options_from_dict(thrift_conn_options_t *opts, PyObject *dict);
/* Adds Cluster and its constants (cluster.c). */
int py_cluster_init(PyObject *module);

extern PyTypeObject py_client_type;
extern PyTypeObject py_server_type;
/* Adds Client, Server and set_rpc_hooks to the module. */
int py_rpc_init(PyObject *module);

#endif
