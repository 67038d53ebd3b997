/* Blocking RPC types of the binding (rpc.c). */
#ifndef DYNTHRIFT_PY_RPC_H
#define DYNTHRIFT_PY_RPC_H

#include "schema_obj.h"

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
