/* Blocking RPC types of the binding (rpc.c). */
#ifndef DYNTHRIFT_PY_RPC_H
#define DYNTHRIFT_PY_RPC_H

#include "schema_obj.h"

extern PyTypeObject py_client_type;
extern PyTypeObject py_server_type;
/* Adds Client, Server and set_rpc_hooks to the module. */
int py_rpc_init(PyObject *module);

#endif
