/* Clusters (dynthrift/pool.h) for Python: one client of a service over
 * named servers, each with its own connection pool; calls routed by a hash
 * of an argument (consistent or modulo), balanced, or replicated to every
 * server.  Blocking: thrift_cluster_open's private loop is driven by the
 * calling thread with the GIL released, one call at a time (a mutex), as
 * the blocking client does. */
#include <pthread.h>
#include <string.h>

#include "codec.h"
#include "dynthrift/pool.h"
#include "rpc.h"

typedef struct py_cluster {
    PyObject_HEAD
    py_schema_t *so;
    thrift_cluster_t *cluster;
    const thrift_service_def_t *service;
    pthread_mutex_t lock; /* one thread drives the private loop at a time */
} py_cluster_t;

static void cluster_dealloc(py_cluster_t *c) {
    thrift_cluster_free(c->cluster);
    pthread_mutex_destroy(&c->lock);
    Py_XDECREF(c->so);
    Py_TYPE(c)->tp_free((PyObject *)c);
}

static bool set_pool_options(thrift_pool_options_t *po, PyObject *dict) {
    Py_ssize_t pos = 0;
    PyObject *k, *v;
    while (dict && dict != Py_None && PyDict_Next(dict, &pos, &k, &v)) {
        PyObject *text = PyObject_Str(v);
        const char *key = PyUnicode_AsUTF8(k);
        const char *val = text ? PyUnicode_AsUTF8(text) : NULL;
        thrift_error_t err;
        thrift_error_clear(&err);
        thrift_status_t st = key && val ? thrift_pool_options_set(po, key, val, &err)
                                        : THRIFT_MISUSE;
        Py_XDECREF(text);
        if (st != THRIFT_OK) {
            if (!PyErr_Occurred())
                PyErr_Format(st == THRIFT_NOT_FOUND ? PyExc_TypeError : PyExc_ValueError,
                             "pool option %s: %s", key ? key : "?",
                             err.text[0] ? err.text : thrift_status_str(st));
            return false;
        }
    }
    return true;
}

/* Cluster(schema, service, conn options dict, pool options dict) */
static int cluster_init(py_cluster_t *c, PyObject *args, PyObject *kw) {
    (void)kw;
    PyObject *so_obj, *conn_dict, *pool_dict;
    const char *service;
    if (!PyArg_ParseTuple(args, "O!sOO:Cluster", &py_schema_type, &so_obj, &service, &conn_dict,
                          &pool_dict))
        return -1;
    if (c->so) {
        PyErr_SetString(PyExc_RuntimeError, "Cluster initialized twice");
        return -1;
    }
    Py_INCREF(so_obj);
    c->so = (py_schema_t *)so_obj;
    pthread_mutex_init(&c->lock, NULL);
    thrift_conn_options_t *co = thrift_conn_options_new();
    thrift_pool_options_t *po = thrift_pool_options_new();
    int rc = -1;
    if (!co || !po) {
        PyErr_NoMemory();
        goto out;
    }
    if (!py_conn_options_from_dict(co, conn_dict) || !set_pool_options(po, pool_dict))
        goto out;
    thrift_error_t err;
    thrift_error_clear(&err);
    c->cluster = thrift_cluster_open(c->so->schema, service, co, po, &err);
    if (!c->cluster) {
        PyErr_Format(PyExc_ValueError, "cluster: %s", err.text);
        goto out;
    }
    c->service = thrift_schema_find_service(c->so->schema, service);
    rc = 0;
out:
    thrift_conn_options_free(co);
    thrift_pool_options_free(po);
    return rc;
}

static bool check_open(py_cluster_t *c) {
    if (!c->cluster) {
        PyErr_SetString(PyExc_ValueError, "cluster is closed");
        return false;
    }
    return true;
}

#define STATUS_CALL_(expr)                                                    \
    do {                                                                      \
        thrift_error_t err_;                                                  \
        thrift_error_clear(&err_);                                            \
        thrift_error_t *err = &err_;                                          \
        if (!check_open(c))                                                   \
            return NULL;                                                      \
        thrift_status_t st_ = (expr);                                         \
        if (st_ != THRIFT_OK)                                                 \
            return PyErr_Format(st_ == THRIFT_NOT_FOUND ? PyExc_KeyError       \
                                                        : PyExc_ValueError,   \
                                "%s", err_.text[0] ? err_.text                \
                                                   : thrift_status_str(st_)); \
        Py_RETURN_NONE;                                                       \
    } while (0)

static PyObject *cluster_add_server(py_cluster_t *c, PyObject *args) {
    const char *name, *address;
    if (!PyArg_ParseTuple(args, "ss:add_server", &name, &address))
        return NULL;
    STATUS_CALL_(thrift_cluster_add_server(c->cluster, name, address, err));
}

static PyObject *cluster_remove_server(py_cluster_t *c, PyObject *args) {
    const char *name;
    if (!PyArg_ParseTuple(args, "s:remove_server", &name))
        return NULL;
    STATUS_CALL_(thrift_cluster_remove_server(c->cluster, name, err));
}

/* route_by_arg(method or None, arg) */
static PyObject *cluster_route_by_arg(py_cluster_t *c, PyObject *args) {
    const char *method, *arg;
    if (!PyArg_ParseTuple(args, "zs:route_by_arg", &method, &arg))
        return NULL;
    STATUS_CALL_(thrift_cluster_route_by_arg(c->cluster, method, arg, err));
}

static PyObject *cluster_set_idempotent(py_cluster_t *c, PyObject *args) {
    const char *method;
    int on;
    if (!PyArg_ParseTuple(args, "sp:set_idempotent", &method, &on))
        return NULL;
    STATUS_CALL_(thrift_cluster_set_idempotent(c->cluster, method, on, err));
}

/* configure(hash scheme, balance, retries, ring points) */
static PyObject *cluster_configure(py_cluster_t *c, PyObject *args) {
    int scheme, balance;
    unsigned retries, points;
    if (!PyArg_ParseTuple(args, "iiII:configure", &scheme, &balance, &retries, &points))
        return NULL;
    if (!check_open(c))
        return NULL;
    thrift_cluster_set_hash_scheme(c->cluster, (thrift_hash_scheme_t)scheme);
    thrift_cluster_set_balance(c->cluster, (thrift_balance_t)balance);
    thrift_cluster_set_retries(c->cluster, retries);
    thrift_cluster_set_ring_points(c->cluster, points);
    Py_RETURN_NONE;
}

static PyObject *cluster_servers(py_cluster_t *c, PyObject *unused) {
    (void)unused;
    if (!check_open(c))
        return NULL;
    size_t n = thrift_cluster_server_count(c->cluster);
    PyObject *list = PyList_New((Py_ssize_t)n);
    for (size_t i = 0; list && i < n; i++) {
        const char *name = thrift_cluster_server_name(c->cluster, i);
        PyObject *item = Py_BuildValue("(sO)", name,
                                       thrift_cluster_server_is_up(c->cluster, name) ? Py_True
                                                                                      : Py_False);
        if (!item) {
            Py_CLEAR(list);
            break;
        }
        PyList_SET_ITEM(list, (Py_ssize_t)i, item);
    }
    return list;
}

/* What call, call_all and route share: parses (method, args instance)
 * and builds the args value in a codec begun here (end it with
 * py_codec_end when this returns non-NULL); NULL with the exception
 * raised. */
static thrift_value_t *begin_call(py_cluster_t *c, PyObject *args, const char *format,
                                  const char **method, py_codec_t *codec) {
    PyObject *argobj;
    if (!PyArg_ParseTuple(args, format, method, &argobj) || !check_open(c) ||
        !py_codec_begin(codec, c->so))
        return NULL;
    thrift_value_t *sv = py_args_value(c->so, c->service, codec, *method, argobj);
    if (!sv)
        py_codec_end(codec);
    return sv;
}

/* A response as (ok, value or exception instance); needs the GIL. */
static PyObject *response_pair(py_schema_t *so, const thrift_response_t *r) {
    py_call_outcome_t o;
    memset(&o, 0, sizeof o);
    o.status = thrift_response_status(r);
    const thrift_error_t *e = thrift_response_error(r);
    if (e)
        o.err = *e;
    o.app_type = thrift_response_app_type(r);
    o.value = thrift_response_value(r);
    PyObject *v = py_call_outcome(so, &o);
    if (v)
        return Py_BuildValue("(ON)", Py_True, v);
    return Py_BuildValue("(ON)", Py_False, py_take_exception());
}

/* call(method, args) -> result (raises the call's exception) */
static PyObject *cluster_call(py_cluster_t *c, PyObject *args) {
    const char *method;
    py_codec_t codec;
    thrift_value_t *sv = begin_call(c, args, "sO:call", &method, &codec);
    if (!sv)
        return NULL;
    thrift_error_t err;
    thrift_error_clear(&err);
    const thrift_response_t *r;
    Py_BEGIN_ALLOW_THREADS
    pthread_mutex_lock(&c->lock);
    r = thrift_cluster_call(c->cluster, method, sv, &err);
    Py_END_ALLOW_THREADS
    PyObject *out = NULL;
    if (!r) {
        py_call_outcome_t o;
        memset(&o, 0, sizeof o);
        o.status = err.code;
        o.err = err;
        out = py_call_outcome(c->so, &o);
    } else {
        PyObject *pair = response_pair(c->so, r);
        if (pair && PyTuple_GET_ITEM(pair, 0) == Py_True) {
            out = PyTuple_GET_ITEM(pair, 1);
            Py_INCREF(out);
        } else if (pair) {
            PyObject *exc = PyTuple_GET_ITEM(pair, 1);
            PyErr_SetObject((PyObject *)Py_TYPE(exc), exc);
        }
        Py_XDECREF(pair);
    }
    pthread_mutex_unlock(&c->lock);
    py_codec_end(&codec);
    return out;
}

/* call_all(method, args) -> [(server name, ok, value or exception)] */
static PyObject *cluster_call_all(py_cluster_t *c, PyObject *args) {
    const char *method;
    py_codec_t codec;
    thrift_value_t *sv = begin_call(c, args, "sO:call_all", &method, &codec);
    if (!sv)
        return NULL;
    thrift_error_t err;
    thrift_error_clear(&err);
    thrift_responses_t *rs;
    Py_BEGIN_ALLOW_THREADS
    pthread_mutex_lock(&c->lock);
    rs = thrift_cluster_call_all(c->cluster, method, sv, &err);
    pthread_mutex_unlock(&c->lock);
    Py_END_ALLOW_THREADS
    py_codec_end(&codec);
    if (!rs)
        return PyErr_Format(PyExc_ValueError, "%s", err.text);
    size_t n = thrift_responses_count(rs);
    PyObject *list = PyList_New((Py_ssize_t)n);
    for (size_t i = 0; list && i < n; i++) {
        const thrift_response_t *r = thrift_responses_at(rs, i);
        PyObject *pair = response_pair(c->so, r);
        const char *server = thrift_response_server(r);
        PyObject *item = pair ? Py_BuildValue("(sOO)", server ? server : "",
                                              PyTuple_GET_ITEM(pair, 0),
                                              PyTuple_GET_ITEM(pair, 1))
                              : NULL;
        Py_XDECREF(pair);
        if (!item) {
            Py_CLEAR(list);
            break;
        }
        PyList_SET_ITEM(list, (Py_ssize_t)i, item);
    }
    thrift_responses_free(rs);
    return list;
}

/* route(method, args) -> the server name a call would go to now, or None */
static PyObject *cluster_route(py_cluster_t *c, PyObject *args) {
    const char *method;
    py_codec_t codec;
    thrift_value_t *sv = begin_call(c, args, "sO:route", &method, &codec);
    if (!sv)
        return NULL;
    pthread_mutex_lock(&c->lock); /* quick: no I/O */
    const char *name = thrift_cluster_route(c->cluster, method, sv);
    PyObject *out = name ? PyUnicode_FromString(name) : (Py_INCREF(Py_None), Py_None);
    pthread_mutex_unlock(&c->lock);
    py_codec_end(&codec);
    return out;
}

static PyObject *cluster_close(py_cluster_t *c, PyObject *unused) {
    (void)unused;
    Py_BEGIN_ALLOW_THREADS
    pthread_mutex_lock(&c->lock);
    Py_END_ALLOW_THREADS
    thrift_cluster_free(c->cluster);
    c->cluster = NULL;
    pthread_mutex_unlock(&c->lock);
    Py_RETURN_NONE;
}

static PyMethodDef cluster_methods[] = {
    {"add_server", (PyCFunction)cluster_add_server, METH_VARARGS, "add_server(name, address)"},
    {"remove_server", (PyCFunction)cluster_remove_server, METH_VARARGS, "remove_server(name)"},
    {"route_by_arg", (PyCFunction)cluster_route_by_arg, METH_VARARGS,
     "route_by_arg(method or None, arg)"},
    {"set_idempotent", (PyCFunction)cluster_set_idempotent, METH_VARARGS,
     "set_idempotent(method, bool)"},
    {"configure", (PyCFunction)cluster_configure, METH_VARARGS,
     "configure(hash_scheme, balance, retries, ring_points)"},
    {"servers", (PyCFunction)cluster_servers, METH_NOARGS, "[(name, up)]"},
    {"call", (PyCFunction)cluster_call, METH_VARARGS, "call(method, args_instance)"},
    {"call_all", (PyCFunction)cluster_call_all, METH_VARARGS,
     "call_all(method, args_instance) -> [(server, ok, value)]"},
    {"route", (PyCFunction)cluster_route, METH_VARARGS,
     "route(method, args_instance) -> server name or None"},
    {"close", (PyCFunction)cluster_close, METH_NOARGS, "Closes every connection."},
    {NULL, NULL, 0, NULL}};

PyTypeObject py_cluster_type = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "dynthrift._dynthrift.Cluster",
    .tp_basicsize = sizeof(py_cluster_t),
    .tp_dealloc = (destructor)cluster_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "A client over named servers (thrift_cluster_t).",
    .tp_methods = cluster_methods,
    .tp_init = (initproc)cluster_init,
    .tp_new = PyType_GenericNew,
};

int py_cluster_init(PyObject *module) {
    if (PyType_Ready(&py_cluster_type) < 0)
        return -1;
    Py_INCREF(&py_cluster_type);
    if (PyModule_AddIntConstant(module, "HASH_MODULO", THRIFT_HASH_MODULO) < 0 ||
        PyModule_AddIntConstant(module, "HASH_CONSISTENT", THRIFT_HASH_CONSISTENT) < 0 ||
        PyModule_AddIntConstant(module, "BALANCE_ROUND_ROBIN", THRIFT_BALANCE_ROUND_ROBIN) < 0 ||
        PyModule_AddIntConstant(module, "BALANCE_RANDOM", THRIFT_BALANCE_RANDOM) < 0 ||
        PyModule_AddIntConstant(module, "BALANCE_LEAST_OUTSTANDING",
                                THRIFT_BALANCE_LEAST_OUTSTANDING) < 0)
        return -1;
    return PyModule_AddObject(module, "Cluster", (PyObject *)&py_cluster_type);
}
