/* Blocking RPC for Python on the C engine's loops.
 *
 * Client: each client owns a libev loop run by its own I/O thread (which
 * never touches Python).  A call encodes its args with the GIL held,
 * submits them with thrift_call_submit (the engine's thread-safe entry: a
 * mutex queue and an ev_async), then waits on a condition variable with
 * the GIL released.  Any number of Python threads may share a client:
 * the engine pipelines their calls and matches replies by seqid; a reply
 * arriving after its call timed out is dropped by the engine.
 *
 * Server: thrift_rpc_server on a loop run by serve() with the GIL
 * released; a request takes the GIL (PyGILState_Ensure) only to run its
 * Python handler.  With threads > 1 the engine runs more loops on its own
 * threads, each taking the GIL for its handlers. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <time.h>

#include <ev.h>

#include "codec.h"
#include "dynthrift/net.h"
#include "rpc.h"

static PyObject *error_factory; /* (kind, code, message) -> exception instance */
static PyObject *app_exception_class;
static PyObject *log_func;      /* (message) -> None: logs a handler failure */

/* Raises the exception error_factory makes for a failed call. */
static void raise_call_error(const char *kind, int code, const char *message) {
    if (!error_factory) {
        PyErr_Format(PyExc_RuntimeError, "%s: %s", kind, message);
        return;
    }
    PyObject *exc = PyObject_CallFunction(error_factory, "sis", kind, code, message);
    if (exc) {
        PyErr_SetObject((PyObject *)Py_TYPE(exc), exc);
        Py_DECREF(exc);
    }
}

static bool options_from_py(thrift_conn_options_t *opts, PyObject *dict) {
    if (!dict || dict == Py_None)
        return true;
    Py_ssize_t pos = 0;
    PyObject *k, *v;
    while (PyDict_Next(dict, &pos, &k, &v)) {
        PyObject *text = PyBool_Check(v) ? PyUnicode_FromString(v == Py_True ? "1" : "0")
                                         : PyObject_Str(v);
        const char *key = PyUnicode_AsUTF8(k);
        const char *val = text ? PyUnicode_AsUTF8(text) : NULL;
        if (!key || !val) {
            Py_XDECREF(text);
            return false;
        }
        thrift_error_t err;
        thrift_error_clear(&err);
        thrift_status_t st = thrift_conn_options_set(opts, key, val, &err);
        Py_DECREF(text);
        if (st == THRIFT_NOT_FOUND) {
            PyErr_Format(PyExc_TypeError, "unknown option '%s'", key);
            return false;
        }
        if (st != THRIFT_OK) {
            PyErr_Format(PyExc_ValueError, "option %s: %s", key,
                         err.text[0] ? err.text : thrift_status_str(st));
            return false;
        }
    }
    return true;
}

/* ---- client --------------------------------------------------------------------- */

typedef struct py_client {
    PyObject_HEAD
    py_schema_t *so; /* owned reference */
    const thrift_service_def_t *service;
    struct ev_loop *loop;
    ev_async stop;
    thrift_conn_t *conn;
    pthread_t thread;
    bool running;
    /* Guards `closed` against submissions racing close(): a submission
     * holds it, so none arrives after the connection starts closing. */
    pthread_mutex_t lock;
    bool closed;
} py_client_t;

/* One call in flight: the caller waits on `cv`; the loop thread fills the
 * outcome and signals. */
typedef struct waiter {
    pthread_mutex_t m;
    pthread_cond_t cv;
    bool done;
    thrift_status_t status;
    thrift_error_t err;
    int app_type;
    thrift_arena_t *arena;        /* taken from the result */
    const thrift_value_t *value;  /* in `arena` */
} waiter_t;

static void on_stop(struct ev_loop *loop, ev_async *w, int revents) {
    (void)w;
    (void)revents;
    ev_break(loop, EVBREAK_ALL);
}

static void *client_thread(void *arg) {
    py_client_t *cl = arg;
    ev_run(cl->loop, 0);
    return NULL;
}

static void on_result(thrift_conn_t *conn, thrift_result_t *r, void *ud) {
    (void)conn;
    waiter_t *w = ud;
    pthread_mutex_lock(&w->m);
    w->status = thrift_result_status(r);
    const thrift_error_t *e = thrift_result_error(r);
    if (e)
        w->err = *e;
    w->app_type = thrift_result_app_type(r);
    w->value = thrift_result_value(r);
    w->arena = w->value ? thrift_result_take_arena(r) : NULL;
    if (!w->arena)
        w->value = NULL;
    w->done = true;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->m);
}

static void client_shutdown(py_client_t *cl) {
    pthread_mutex_lock(&cl->lock);
    bool was_closed = cl->closed;
    cl->closed = true;
    pthread_mutex_unlock(&cl->lock);
    if (was_closed)
        return;
    if (cl->running) {
        ev_async_send(cl->loop, &cl->stop);
        Py_BEGIN_ALLOW_THREADS
        pthread_join(cl->thread, NULL);
        Py_END_ALLOW_THREADS
        cl->running = false;
    }
    /* The loop thread has ended: this thread may now free what it ran.
     * Pending calls fail with CLOSED and wake their callers. */
    thrift_conn_free(cl->conn);
    cl->conn = NULL;
    if (cl->loop) {
        ev_async_stop(cl->loop, &cl->stop);
        ev_loop_destroy(cl->loop);
        cl->loop = NULL;
    }
}

static void client_dealloc(py_client_t *cl) {
    client_shutdown(cl);
    pthread_mutex_destroy(&cl->lock);
    Py_XDECREF(cl->so);
    Py_TYPE(cl)->tp_free((PyObject *)cl);
}

/* Client(schema, service, address, options dict) */
static int client_init(py_client_t *cl, PyObject *args, PyObject *kw) {
    (void)kw;
    PyObject *so_obj, *opts_dict;
    const char *service, *address;
    if (!PyArg_ParseTuple(args, "O!ssO:Client", &py_schema_type, &so_obj, &service, &address,
                          &opts_dict))
        return -1;
    if (cl->so) {
        PyErr_SetString(PyExc_RuntimeError, "Client initialized twice");
        return -1;
    }
    Py_INCREF(so_obj);
    cl->so = (py_schema_t *)so_obj;
    pthread_mutex_init(&cl->lock, NULL);
    thrift_conn_options_t *opts = thrift_conn_options_new();
    if (!opts) {
        PyErr_NoMemory();
        return -1;
    }
    if (!options_from_py(opts, opts_dict)) {
        thrift_conn_options_free(opts);
        return -1;
    }
    cl->loop = ev_loop_new(EVFLAG_AUTO);
    if (!cl->loop) {
        thrift_conn_options_free(opts);
        PyErr_SetString(PyExc_OSError, "cannot create an event loop");
        return -1;
    }
    thrift_error_t err;
    thrift_error_clear(&err);
    cl->conn = thrift_conn_new(cl->loop, cl->so->schema, service, address, opts, &err);
    thrift_conn_options_free(opts);
    if (!cl->conn) {
        raise_call_error("config", err.code, err.text);
        return -1;
    }
    cl->service = thrift_conn_service(cl->conn);
    ev_async_init(&cl->stop, on_stop);
    ev_async_start(cl->loop, &cl->stop);
    /* The I/O thread takes no signals: Ctrl-C goes to Python's thread. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    int rc = pthread_create(&cl->thread, NULL, client_thread, cl);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != 0) {
        errno = rc;
        PyErr_SetFromErrno(PyExc_OSError);
        return -1;
    }
    cl->running = true;
    return 0;
}

/* The Python value of a finished call, or NULL with its exception raised. */
static PyObject *call_outcome(py_schema_t *so, waiter_t *w) {
    switch (w->status) {
    case THRIFT_OK: {
        if (!w->value || thrift_value_kind(w->value) == THRIFT_KIND_VOID)
            Py_RETURN_NONE;
        py_codec_t c = {.schema = so};
        return py_from_value(&c, w->value);
    }
    case THRIFT_DECLARED_EXCEPTION: {
        if (!w->value)
            break;
        py_codec_t c = {.schema = so};
        PyObject *exc = py_from_value(&c, w->value);
        if (!exc)
            return NULL;
        PyErr_SetObject((PyObject *)Py_TYPE(exc), exc);
        Py_DECREF(exc);
        return NULL;
    }
    case THRIFT_APP_EXCEPTION:
        raise_call_error("application", w->app_type, w->err.text);
        return NULL;
    default:
        break;
    }
    raise_call_error(thrift_status_name(w->status), (int)w->status,
                     w->err.text[0] ? w->err.text : thrift_status_str(w->status));
    return NULL;
}

/* call(method, args instance, timeout_ms) */
static PyObject *client_call(py_client_t *cl, PyObject *args) {
    const char *method;
    PyObject *argobj;
    if (!PyArg_ParseTuple(args, "sO:call", &method, &argobj))
        return NULL;
    if (!cl->so)
        return PyErr_Format(PyExc_RuntimeError, "client not initialized"), NULL;
    if (!cl->conn) {
        raise_call_error("CLOSED", THRIFT_CLOSED, "client is closed");
        return NULL;
    }
    const thrift_function_def_t *fn = thrift_service_def_find_function(cl->service, method);
    if (!fn)
        return PyErr_Format(PyExc_AttributeError, "no method '%s' in service %s", method,
                            thrift_service_def_name(cl->service));
    py_plan_t *plan = py_schema_find_plan(cl->so, thrift_function_def_args(fn));
    if (!plan || !plan->cls)
        return PyErr_Format(PyExc_TypeError, "%s: args class not bound", method);
    if (!PyObject_TypeCheck(argobj, (PyTypeObject *)plan->cls))
        return PyErr_Format(PyExc_TypeError, "%s: a %s instance expected", method,
                            ((PyTypeObject *)plan->cls)->tp_name);
    py_codec_t c;
    if (!py_codec_begin(&c, cl->so))
        return NULL;
    thrift_value_t *sv = thrift_value_new_struct(c.arena, plan->def);
    if (!sv) {
        py_codec_end(&c);
        return PyErr_NoMemory();
    }
    if (py_struct_to_value(&c, sv, plan, argobj) < 0) {
        py_path_raise(&c.path, method);
        py_codec_end(&c);
        return NULL;
    }
    waiter_t w;
    memset(&w, 0, sizeof w);
    pthread_mutex_init(&w.m, NULL);
    pthread_cond_init(&w.cv, NULL);
    thrift_error_t err;
    thrift_error_clear(&err);
    thrift_status_t st;
    pthread_mutex_lock(&cl->lock);
    if (cl->closed) {
        st = THRIFT_CLOSED;
        snprintf(err.text, sizeof err.text, "client is closed");
    } else {
        /* Encodes (copies) the args before returning. */
        st = thrift_call_submit(cl->conn, method, sv, on_result, &w, &err);
    }
    pthread_mutex_unlock(&cl->lock);
    py_codec_end(&c);
    if (st != THRIFT_OK) {
        pthread_cond_destroy(&w.cv);
        pthread_mutex_destroy(&w.m);
        raise_call_error(st == THRIFT_CLOSED ? "CLOSED" : thrift_status_name(st), (int)st,
                         err.text[0] ? err.text : thrift_status_str(st));
        return NULL;
    }
    Py_BEGIN_ALLOW_THREADS
    pthread_mutex_lock(&w.m);
    while (!w.done)
        pthread_cond_wait(&w.cv, &w.m);
    pthread_mutex_unlock(&w.m);
    Py_END_ALLOW_THREADS
    PyObject *out = call_outcome(cl->so, &w);
    thrift_arena_free(w.arena);
    pthread_cond_destroy(&w.cv);
    pthread_mutex_destroy(&w.m);
    return out;
}

static PyObject *client_close(py_client_t *cl, PyObject *unused) {
    (void)unused;
    client_shutdown(cl);
    Py_RETURN_NONE;
}

static PyObject *client_pending(py_client_t *cl, PyObject *unused) {
    (void)unused;
    /* Read from Python's thread while the loop thread writes it: only a
     * hint for tests and metrics. */
    pthread_mutex_lock(&cl->lock);
    bool closed = cl->closed;
    pthread_mutex_unlock(&cl->lock);
    return PyBool_FromLong(closed);
}

static PyMethodDef client_methods[] = {
    {"call", (PyCFunction)client_call, METH_VARARGS,
     "call(method, args_instance) -> result (raises declared exceptions)"},
    {"close", (PyCFunction)client_close, METH_NOARGS, "Closes the connection."},
    {"closed", (PyCFunction)client_pending, METH_NOARGS, "True once closed."},
    {NULL, NULL, 0, NULL}};

PyTypeObject py_client_type = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "dynthrift._dynthrift.Client",
    .tp_basicsize = sizeof(py_client_t),
    .tp_dealloc = (destructor)client_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "A connection to a service, on its own I/O thread.",
    .tp_methods = client_methods,
    .tp_init = (initproc)client_init,
    .tp_new = PyType_GenericNew,
};

/* ---- server --------------------------------------------------------------------- */

typedef struct py_server py_server_t;

/* What a registered method's handler needs. */
typedef struct py_method {
    py_server_t *server;
    PyObject *name;                  /* the handler's attribute */
    const thrift_function_def_t *fn;
    const py_plan_t *args_plan;
    const py_plan_t *result_plan;
    const thrift_type_def_t *ret;    /* resolved return type */
} py_method_t;

struct py_server {
    PyObject_HEAD
    py_schema_t *so;
    PyObject *handler;
    struct ev_loop *loop;
    thrift_rpc_server_t *srv;
    ev_async stop;
    ev_timer signals;     /* checks for Ctrl-C while serve() runs */
    py_method_t *methods;
    size_t nmethods;
    /* Set from any thread by close(); read by the loop. */
    pthread_mutex_t lock;
    bool stop_requested;
    bool serving;
    bool stopping;
    bool interrupted;     /* serve() ended by a signal */
};

static void server_stopped(thrift_rpc_server_t *srv, void *ud) {
    (void)srv;
    py_server_t *s = ud;
    ev_break(s->loop, EVBREAK_ALL);
}

static void begin_stop(py_server_t *s) {
    if (s->stopping)
        return;
    s->stopping = true;
    thrift_rpc_server_stop(s->srv, server_stopped, s);
}

static void on_server_stop(struct ev_loop *loop, ev_async *w, int revents) {
    (void)loop;
    (void)revents;
    begin_stop((py_server_t *)w->data);
}

/* Runs Python's signal handlers (Ctrl-C) every 100 ms while serving. */
static void on_signal_check(struct ev_loop *loop, ev_timer *w, int revents) {
    (void)loop;
    (void)revents;
    py_server_t *s = w->data;
    PyGILState_STATE g = PyGILState_Ensure();
    if (PyErr_CheckSignals() < 0) {
        if (PyErr_ExceptionMatches(PyExc_KeyboardInterrupt)) {
            PyErr_Clear();
            s->interrupted = true;
        } else {
            PyErr_WriteUnraisable((PyObject *)s);
        }
        begin_stop(s);
    }
    PyGILState_Release(g);
}

static void log_failure(const char *method) {
    /* The handler's exception is the current one. */
    if (!log_func) {
        PyErr_Clear();
        return;
    }
    PyObject *et, *ev, *etb;
    PyErr_Fetch(&et, &ev, &etb);
    PyErr_NormalizeException(&et, &ev, &etb);
    PyObject *r = PyObject_CallFunction(log_func, "sOOO", method, et ? et : Py_None,
                                        ev ? ev : Py_None, etb ? etb : Py_None);
    Py_XDECREF(r);
    PyErr_Clear();
    Py_XDECREF(et);
    Py_XDECREF(ev);
    Py_XDECREF(etb);
}

/* The handler raised: answer with a declared exception, the raised
 * TApplicationException, or INTERNAL_ERROR; the connection stays open. */
static void reply_exception(py_method_t *m, thrift_request_t *req) {
    PyObject *et, *ev, *etb;
    PyErr_Fetch(&et, &ev, &etb);
    PyErr_NormalizeException(&et, &ev, &etb);
    const py_plan_t *rp = m->result_plan;
    for (size_t i = 0; ev && rp && i < rp->nfields; i++) {
        const py_field_plan_t *f = &rp->fields[i];
        if (f->kind != THRIFT_KIND_EXCEPTION || strcmp(PyUnicode_AsUTF8(f->name), "success") == 0)
            continue;
        py_plan_t *xp = py_schema_find_plan(m->server->so, thrift_type_def_struct(f->type));
        if (!xp || !xp->cls || !PyObject_TypeCheck(ev, (PyTypeObject *)xp->cls))
            continue;
        py_codec_t c = {.schema = m->server->so, .arena = thrift_request_arena(req)};
        py_path_init(&c.path);
        thrift_value_t *xv = c.arena ? thrift_value_new_struct(c.arena, xp->def) : NULL;
        if (xv && py_struct_to_value(&c, xv, xp, ev) == 0) {
            thrift_reply_exception(req, PyUnicode_AsUTF8(f->name), xv);
        } else {
            char text[1024];
            snprintf(text, sizeof text, "%s%s: %s", thrift_struct_def_name(xp->def),
                     c.path.buf + c.path.start, c.path.msg);
            thrift_reply_error(req, THRIFT_APPEX_INTERNAL_ERROR, text);
        }
        goto done;
    }
    if (ev && app_exception_class && PyObject_IsInstance(ev, app_exception_class) == 1) {
        PyObject *type = PyObject_GetAttrString(ev, "type");
        PyObject *msg = PyObject_GetAttrString(ev, "message");
        long t = type ? PyLong_AsLong(type) : THRIFT_APPEX_UNKNOWN;
        if (t == -1 && PyErr_Occurred())
            t = THRIFT_APPEX_UNKNOWN;
        const char *text = msg && PyUnicode_Check(msg) ? PyUnicode_AsUTF8(msg) : NULL;
        PyErr_Clear();
        thrift_reply_error(req, (int)t, text ? text : "");
        Py_XDECREF(type);
        Py_XDECREF(msg);
        goto done;
    }
    /* Anything else: log it and answer INTERNAL_ERROR. */
    {
        PyObject *s = ev ? PyObject_Repr(ev) : NULL;
        const char *text = s ? PyUnicode_AsUTF8(s) : NULL;
        if (!text)
            PyErr_Clear();
        thrift_reply_error(req, THRIFT_APPEX_INTERNAL_ERROR, text ? text : "internal error");
        Py_XDECREF(s);
        PyErr_Restore(et, ev, etb);
        et = ev = etb = NULL;
        log_failure(PyUnicode_AsUTF8(m->name));
    }
done:
    Py_XDECREF(et);
    Py_XDECREF(ev);
    Py_XDECREF(etb);
}

static thrift_status_t on_request(thrift_request_t *req, const thrift_value_t *args, void *ud) {
    py_method_t *m = ud;
    bool oneway = thrift_request_is_oneway(req);
    PyGILState_STATE g = PyGILState_Ensure();
    py_codec_t c = {.schema = m->server->so, .arena = thrift_request_arena(req)};
    py_path_init(&c.path);
    const py_plan_t *ap = m->args_plan;
    PyObject *callargs = PyTuple_New((Py_ssize_t)ap->nfields);
    for (size_t i = 0; callargs && i < ap->nfields; i++) {
        const thrift_value_t *fv = thrift_value_get_at(args, i);
        PyObject *v;
        if (fv) {
            v = py_from_value(&c, fv);
        } else if (ap->defaults) {
            v = PyTuple_GET_ITEM(ap->defaults, (Py_ssize_t)i);
            Py_INCREF(v);
        } else {
            v = Py_None;
            Py_INCREF(v);
        }
        if (!v) {
            Py_CLEAR(callargs);
            break;
        }
        PyTuple_SET_ITEM(callargs, (Py_ssize_t)i, v);
    }
    PyObject *ret = NULL;
    if (callargs) {
        PyObject *meth = PyObject_GetAttr(m->server->handler, m->name);
        ret = meth ? PyObject_Call(meth, callargs, NULL) : NULL;
        Py_XDECREF(meth);
        Py_DECREF(callargs);
    }
    if (oneway) {
        if (!ret)
            log_failure(PyUnicode_AsUTF8(m->name));
        Py_XDECREF(ret);
        PyGILState_Release(g);
        return THRIFT_OK;
    }
    if (!ret) {
        reply_exception(m, req);
    } else if (thrift_type_def_kind(m->ret) == THRIFT_KIND_VOID) {
        thrift_reply(req, NULL);
    } else if (ret == Py_None) {
        thrift_reply_error(req, THRIFT_APPEX_MISSING_RESULT,
                           "the handler returned None for a non-void method");
    } else {
        thrift_value_t *rv = c.arena ? thrift_value_new(c.arena, m->ret) : NULL;
        if (rv && py_to_value(&c, rv, m->ret, thrift_type_def_kind(m->ret), ret) == 0) {
            thrift_reply(req, rv);
        } else {
            char text[1024];
            snprintf(text, sizeof text, "%s result%s: %s", PyUnicode_AsUTF8(m->name),
                     c.path.buf + c.path.start, c.path.msg[0] ? c.path.msg : "out of memory");
            thrift_reply_error(req, THRIFT_APPEX_INTERNAL_ERROR, text);
        }
    }
    Py_XDECREF(ret);
    PyGILState_Release(g);
    return THRIFT_OK;
}

static void server_free_engine(py_server_t *s) {
    if (s->srv) {
        Py_BEGIN_ALLOW_THREADS /* worker loops may be waiting for the GIL */
        thrift_rpc_server_free(s->srv);
        Py_END_ALLOW_THREADS
        s->srv = NULL;
    }
    if (s->loop) {
        ev_async_stop(s->loop, &s->stop);
        ev_timer_stop(s->loop, &s->signals);
        ev_loop_destroy(s->loop);
        s->loop = NULL;
    }
}

static void server_dealloc(py_server_t *s) {
    server_free_engine(s);
    for (size_t i = 0; i < s->nmethods; i++)
        Py_XDECREF(s->methods[i].name);
    PyMem_Free(s->methods);
    pthread_mutex_destroy(&s->lock);
    Py_XDECREF(s->handler);
    Py_XDECREF(s->so);
    Py_TYPE(s)->tp_free((PyObject *)s);
}

/* Server(schema, service, handler, [addresses], options dict, threads) */
static int server_init(py_server_t *s, PyObject *args, PyObject *kw) {
    (void)kw;
    PyObject *so_obj, *handler, *addresses, *opts_dict;
    const char *service;
    unsigned threads = 1;
    if (!PyArg_ParseTuple(args, "O!sOOO|I:Server", &py_schema_type, &so_obj, &service, &handler,
                          &addresses, &opts_dict, &threads))
        return -1;
    if (s->so) {
        PyErr_SetString(PyExc_RuntimeError, "Server initialized twice");
        return -1;
    }
    pthread_mutex_init(&s->lock, NULL);
    Py_INCREF(so_obj);
    s->so = (py_schema_t *)so_obj;
    Py_INCREF(handler);
    s->handler = handler;
    const thrift_service_def_t *svc = thrift_schema_find_service(s->so->schema, service);
    if (!svc) {
        PyErr_Format(PyExc_ValueError, "no service '%s'", service);
        return -1;
    }
    thrift_conn_options_t *opts = thrift_conn_options_new();
    if (!opts) {
        PyErr_NoMemory();
        return -1;
    }
    if (!options_from_py(opts, opts_dict)) {
        thrift_conn_options_free(opts);
        return -1;
    }
    s->loop = ev_loop_new(EVFLAG_AUTO);
    thrift_error_t err;
    thrift_error_clear(&err);
    s->srv = s->loop ? thrift_rpc_server_new(s->loop, s->so->schema, opts, &err) : NULL;
    thrift_conn_options_free(opts);
    if (!s->srv) {
        PyErr_Format(PyExc_OSError, "cannot create the server: %s", err.text);
        return -1;
    }
    thrift_rpc_server_set_threads(s->srv, threads ? threads : 1);
    ev_async_init(&s->stop, on_server_stop);
    s->stop.data = s;
    ev_async_start(s->loop, &s->stop);
    ev_timer_init(&s->signals, on_signal_check, 0.1, 0.1);
    s->signals.data = s;
    /* Every method of the service and the services it extends. */
    size_t total = 0;
    for (const thrift_service_def_t *p = svc; p; p = thrift_service_def_parent(p))
        total += thrift_service_def_function_count(p);
    s->methods = PyMem_Calloc(total ? total : 1, sizeof *s->methods);
    if (!s->methods) {
        PyErr_NoMemory();
        return -1;
    }
    for (const thrift_service_def_t *p = svc; p; p = thrift_service_def_parent(p)) {
        for (size_t i = 0; i < thrift_service_def_function_count(p); i++) {
            const thrift_function_def_t *fn = thrift_service_def_function_at(p, i);
            const char *name = thrift_function_def_name(fn);
            if (thrift_service_def_find_function(svc, name) != fn)
                continue; /* overridden nearer */
            py_method_t *m = &s->methods[s->nmethods];
            m->server = s;
            m->fn = fn;
            m->args_plan = py_schema_find_plan(s->so, thrift_function_def_args(fn));
            m->result_plan = py_schema_find_plan(s->so, thrift_function_def_result(fn));
            m->ret = thrift_type_def_resolved(thrift_function_def_return_type(fn));
            if (!m->args_plan || !m->args_plan->cls) {
                PyErr_Format(PyExc_TypeError, "%s: args class not bound", name);
                return -1;
            }
            m->name = PyUnicode_InternFromString(name);
            if (!m->name)
                return -1;
            s->nmethods++;
            if (!PyObject_HasAttr(handler, m->name))
                continue; /* unknown method for the client, as in thriftpy */
            if (thrift_rpc_server_handle(s->srv, service, name, on_request, m, &err) != THRIFT_OK) {
                PyErr_Format(PyExc_ValueError, "%s: %s", name, err.text);
                return -1;
            }
        }
    }
    Py_ssize_t n = PySequence_Length(addresses);
    if (n < 0)
        return -1;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *a = PySequence_GetItem(addresses, i);
        const char *addr = a ? PyUnicode_AsUTF8(a) : NULL;
        if (!addr) {
            Py_XDECREF(a);
            return -1;
        }
        thrift_status_t st = thrift_rpc_server_listen(s->srv, addr, &err);
        Py_DECREF(a);
        if (st != THRIFT_OK) {
            PyErr_Format(PyExc_OSError, "listen %s: %s", addr, err.text);
            return -1;
        }
    }
    return 0;
}

/* serve(check_signals): check_signals when called on Python's main thread,
 * the only one that runs signal handlers. */
static PyObject *server_serve(py_server_t *s, PyObject *args) {
    int check_signals = 0;
    if (!PyArg_ParseTuple(args, "|p:serve", &check_signals))
        return NULL;
    if (!s->srv)
        return PyErr_Format(PyExc_RuntimeError, "server is closed");
    pthread_mutex_lock(&s->lock);
    bool already = s->serving;
    s->serving = true;
    bool stop_now = s->stop_requested;
    pthread_mutex_unlock(&s->lock);
    if (already)
        return PyErr_Format(PyExc_RuntimeError, "serve() is already running");
    if (stop_now)
        begin_stop(s);
    if (check_signals)
        ev_timer_start(s->loop, &s->signals);
    Py_BEGIN_ALLOW_THREADS
    ev_run(s->loop, 0);
    Py_END_ALLOW_THREADS
    ev_timer_stop(s->loop, &s->signals);
    server_free_engine(s);
    pthread_mutex_lock(&s->lock);
    s->serving = false;
    pthread_mutex_unlock(&s->lock);
    Py_RETURN_NONE;
}

static PyObject *server_close(py_server_t *s, PyObject *unused) {
    (void)unused;
    pthread_mutex_lock(&s->lock);
    bool serving = s->serving;
    s->stop_requested = true;
    pthread_mutex_unlock(&s->lock);
    if (serving) {
        /* serve() finishes the graceful stop on its loop and returns. */
        if (s->loop)
            ev_async_send(s->loop, &s->stop);
    } else {
        server_free_engine(s);
    }
    Py_RETURN_NONE;
}

static PyObject *server_port(py_server_t *s, PyObject *unused) {
    (void)unused;
    return PyLong_FromLong(s->srv ? thrift_rpc_server_port(s->srv) : 0);
}

static PyObject *server_interrupted(py_server_t *s, PyObject *unused) {
    (void)unused;
    return PyBool_FromLong(s->interrupted);
}

static PyMethodDef server_methods[] = {
    {"serve", (PyCFunction)server_serve, METH_VARARGS,
     "Runs the server until close() or Ctrl-C."},
    {"close", (PyCFunction)server_close, METH_NOARGS, "Stops serving (from any thread)."},
    {"port", (PyCFunction)server_port, METH_NOARGS, "The first TCP listener's port."},
    {"interrupted", (PyCFunction)server_interrupted, METH_NOARGS,
     "True when serve() ended on Ctrl-C."},
    {NULL, NULL, 0, NULL}};

PyTypeObject py_server_type = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "dynthrift._dynthrift.Server",
    .tp_basicsize = sizeof(py_server_t),
    .tp_dealloc = (destructor)server_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "A server running Python handlers on the engine's loops.",
    .tp_methods = server_methods,
    .tp_init = (initproc)server_init,
    .tp_new = PyType_GenericNew,
};

/* set_rpc_hooks(error_factory, app_exception_class, log_func) */
static PyObject *set_rpc_hooks(PyObject *self, PyObject *args) {
    (void)self;
    PyObject *f, *a, *l;
    if (!PyArg_ParseTuple(args, "OOO:set_rpc_hooks", &f, &a, &l))
        return NULL;
    Py_INCREF(f);
    Py_XSETREF(error_factory, f);
    Py_INCREF(a);
    Py_XSETREF(app_exception_class, a);
    Py_INCREF(l);
    Py_XSETREF(log_func, l);
    Py_RETURN_NONE;
}

static PyMethodDef rpc_functions[] = {
    {"set_rpc_hooks", set_rpc_hooks, METH_VARARGS,
     "set_rpc_hooks(error_factory, TApplicationException, log_func)"},
    {NULL, NULL, 0, NULL}};

int py_rpc_init(PyObject *module) {
    if (PyType_Ready(&py_client_type) < 0 || PyType_Ready(&py_server_type) < 0)
        return -1;
    Py_INCREF(&py_client_type);
    Py_INCREF(&py_server_type);
    if (PyModule_AddObject(module, "Client", (PyObject *)&py_client_type) < 0 ||
        PyModule_AddObject(module, "Server", (PyObject *)&py_server_type) < 0)
        return -1;
    return PyModule_AddFunctions(module, rpc_functions);
}
