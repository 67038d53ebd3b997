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
#include <limits.h>
#include <sys/eventfd.h>
#include <unistd.h>
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
/* A contextvars.ContextVar: inside a handler, the request's header context
 * (request headers dict, reply headers dict); see request_context(). */
static PyObject *header_var;

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

bool py_conn_options_from_dict(thrift_conn_options_t *opts, PyObject *dict) {
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
    /* asyncio: calls finished on the I/O thread queue here, and the
     * eventfd (watched by the asyncio loop) says there are some. */
    int event_fd;
    pthread_mutex_t done_lock;
    struct async_call *done_head, *done_tail;
    /* Blocking mode (make_client): a thrift_connect connection driven by
     * the calling thread itself (one syscall round trip per call, no
     * thread hop); `call_lock` lets one thread at a time drive it, so a
     * client shared by threads stays correct. */
    thrift_conn_t *bconn;
    pthread_mutex_t call_lock;
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
    char *reply_headers;          /* copied: see copy_reply_headers */
} waiter_t;

/* The reply's THeader info headers as one malloc block of NUL-terminated
 * strings, key, value, key, value..., ended by an empty key (keys are never
 * empty); NULL when the reply had none (or out of memory: headers are
 * extra information, the call's outcome stands).  On the I/O thread: no
 * Python objects there. */
static char *copy_reply_headers(const thrift_result_t *r) {
    const char *k, *v;
    size_t size = 1;
    for (size_t i = 0; thrift_result_header_at(r, i, &k, &v); i++)
        size += strlen(k) + strlen(v) + 2;
    if (size == 1)
        return NULL;
    char *block = malloc(size), *p = block;
    for (size_t i = 0; block && thrift_result_header_at(r, i, &k, &v); i++) {
        size_t kl = strlen(k) + 1, vl = strlen(v) + 1;
        memcpy(p, k, kl);
        memcpy(p + kl, v, vl);
        p += kl + vl;
    }
    if (block)
        *p = '\0';
    return block;
}

/* dict[key] = value for an info header (bytes that are not UTF-8 kept
 * as surrogates); -1 with the exception raised. */
static int header_dict_set(PyObject *dict, const char *key, const char *value) {
    PyObject *val = PyUnicode_DecodeUTF8(value, (Py_ssize_t)strlen(value), "surrogateescape");
    int rc = val ? PyDict_SetItemString(dict, key, val) : -1;
    Py_XDECREF(val);
    return rc;
}

/* Puts the headers of copy_reply_headers' block into `dict`. */
static int reply_headers_to_dict(const char *block, PyObject *dict) {
    for (const char *p = block; p && *p;) {
        const char *v = p + strlen(p) + 1;
        if (header_dict_set(dict, p, v) < 0)
            return -1;
        p = v + strlen(v) + 1;
    }
    return 0;
}

/* The info headers of a call (a flat tuple of str: key, value, ...) as the
 * array thrift_call_submit_headers takes, borrowed from the tuple; *n is
 * the number of pairs.  NULL with *n 0 for None; NULL with an exception
 * raised on a bad argument.  Free with PyMem_Free. */
static const char **call_headers_array(PyObject *flat, size_t *n) {
    *n = 0;
    if (!flat || flat == Py_None)
        return NULL;
    if (!PyTuple_Check(flat) || PyTuple_GET_SIZE(flat) % 2)
        return PyErr_Format(PyExc_TypeError, "headers: a tuple of key, value, ... expected"),
               NULL;
    Py_ssize_t len = PyTuple_GET_SIZE(flat);
    const char **a = PyMem_Malloc((size_t)(len ? len : 1) * sizeof *a);
    if (!a)
        return (const char **)PyErr_NoMemory();
    for (Py_ssize_t i = 0; i < len; i++) {
        a[i] = PyUnicode_AsUTF8(PyTuple_GET_ITEM(flat, i));
        if (!a[i]) {
            PyMem_Free(a);
            return NULL;
        }
    }
    *n = (size_t)len / 2;
    return a;
}

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

/* Takes what the waiter needs out of `r` (borrowed for the callback): the
 * outcome, the value's arena and a copy of the reply's headers. */
static void waiter_take_result(waiter_t *w, thrift_result_t *r) {
    w->status = thrift_result_status(r);
    const thrift_error_t *e = thrift_result_error(r);
    if (e)
        w->err = *e;
    w->app_type = thrift_result_app_type(r);
    w->value = thrift_result_value(r);
    w->arena = w->value ? thrift_result_take_arena(r) : NULL;
    if (!w->arena)
        w->value = NULL;
    w->reply_headers = copy_reply_headers(r);
}

static void on_result(thrift_conn_t *conn, thrift_result_t *r, void *ud) {
    (void)conn;
    waiter_t *w = ud;
    pthread_mutex_lock(&w->m);
    waiter_take_result(w, r);
    w->done = true;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->m);
}

/* One asyncio call: the token (a future, owned: its reference is taken
 * and dropped with the GIL, never on the I/O thread) and the outcome. */
typedef struct async_call {
    struct async_call *next;
    py_client_t *client;
    PyObject *token;
    waiter_t w;
} async_call_t;

static void on_async_result(thrift_conn_t *conn, thrift_result_t *r, void *ud) {
    (void)conn;
    async_call_t *a = ud;
    waiter_t *w = &a->w;
    waiter_take_result(w, r);
    py_client_t *cl = a->client;
    pthread_mutex_lock(&cl->done_lock);
    bool was_empty = !cl->done_head;
    if (cl->done_tail)
        cl->done_tail->next = a;
    else
        cl->done_head = a;
    cl->done_tail = a;
    pthread_mutex_unlock(&cl->done_lock);
    /* One wake-up per batch: a non-empty queue already has one on its way
     * (drain() reads the eventfd before it takes the queue). */
    if (was_empty) {
        uint64_t one = 1;
        ssize_t n = write(cl->event_fd, &one, sizeof one);
        (void)n; /* EAGAIN: the counter is already non-zero */
    }
}

static void client_shutdown(py_client_t *cl) {
    pthread_mutex_lock(&cl->lock);
    bool was_closed = cl->closed;
    cl->closed = true;
    pthread_mutex_unlock(&cl->lock);
    if (was_closed)
        return;
    if (cl->bconn) {
        Py_BEGIN_ALLOW_THREADS /* a call in flight on another thread ends first */
        pthread_mutex_lock(&cl->call_lock);
        Py_END_ALLOW_THREADS
        thrift_conn_free(cl->bconn);
        cl->bconn = NULL;
        pthread_mutex_unlock(&cl->call_lock);
    }
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
    /* The asyncio side drains what the free failed (drain() still works). */
}

static PyObject *client_drain(py_client_t *cl, PyObject *unused);

static void client_dealloc(py_client_t *cl) {
    client_shutdown(cl);
    PyObject *rest = client_drain(cl, NULL);
    if (!rest)
        PyErr_Clear();
    Py_XDECREF(rest);
    if (cl->event_fd >= 0)
        close(cl->event_fd);
    pthread_mutex_destroy(&cl->done_lock);
    pthread_mutex_destroy(&cl->call_lock);
    pthread_mutex_destroy(&cl->lock);
    Py_XDECREF(cl->so);
    Py_TYPE(cl)->tp_free((PyObject *)cl);
}

/* Client(schema, service, address, options dict, blocking=False): with
 * `blocking`, connected before returning and driven by the calling thread
 * (call() only); otherwise an I/O thread runs the connection (call() and
 * the asyncio submit()/drain()). */
static int client_init(py_client_t *cl, PyObject *args, PyObject *kw) {
    (void)kw;
    PyObject *so_obj, *opts_dict;
    const char *service, *address;
    int blocking = 0;
    if (!PyArg_ParseTuple(args, "O!ssO|p:Client", &py_schema_type, &so_obj, &service, &address,
                          &opts_dict, &blocking))
        return -1;
    if (cl->so) {
        PyErr_SetString(PyExc_RuntimeError, "Client initialized twice");
        return -1;
    }
    Py_INCREF(so_obj);
    cl->so = (py_schema_t *)so_obj;
    pthread_mutex_init(&cl->lock, NULL);
    pthread_mutex_init(&cl->done_lock, NULL);
    pthread_mutex_init(&cl->call_lock, NULL);
    cl->event_fd = -1;
    thrift_conn_options_t *opts = thrift_conn_options_new();
    if (!opts) {
        PyErr_NoMemory();
        return -1;
    }
    if (!py_conn_options_from_dict(opts, opts_dict)) {
        thrift_conn_options_free(opts);
        return -1;
    }
    thrift_error_t err;
    thrift_error_clear(&err);
    if (blocking) {
        thrift_conn_t *conn;
        Py_BEGIN_ALLOW_THREADS
        conn = thrift_connect(cl->so->schema, service, address, opts, &err);
        Py_END_ALLOW_THREADS
        thrift_conn_options_free(opts);
        if (!conn) {
            raise_call_error(thrift_status_name(err.code), err.code, err.text);
            return -1;
        }
        cl->bconn = conn;
        cl->service = thrift_conn_service(conn);
        return 0;
    }
    cl->event_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (cl->event_fd < 0) {
        thrift_conn_options_free(opts);
        PyErr_SetFromErrno(PyExc_OSError);
        return -1;
    }
    cl->loop = ev_loop_new(EVFLAG_AUTO);
    if (!cl->loop) {
        thrift_conn_options_free(opts);
        PyErr_SetString(PyExc_OSError, "cannot create an event loop");
        return -1;
    }
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

PyObject *py_take_exception(void) {
    PyObject *et, *ev, *etb;
    PyErr_Fetch(&et, &ev, &etb);
    PyErr_NormalizeException(&et, &ev, &etb);
    if (etb && ev)
        PyException_SetTraceback(ev, etb);
    Py_XDECREF(et);
    Py_XDECREF(etb);
    if (!ev)
        Py_RETURN_NONE;
    return ev;
}

PyObject *py_call_outcome(py_schema_t *so, const py_call_outcome_t *w) {
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

static PyObject *call_outcome(py_schema_t *so, const waiter_t *w) {
    py_call_outcome_t o = {w->status, w->err, w->app_type, w->value};
    return py_call_outcome(so, &o);
}

/* Sets the call's info headers on the blocking connection (under
 * call_lock): all or none, so a failure leaves none for the next call. */
static thrift_status_t set_call_headers(thrift_conn_t *conn, const char **hv, size_t n) {
    for (size_t i = 0; i < n; i++) {
        thrift_status_t st = thrift_conn_set_call_header(conn, hv[2 * i], hv[2 * i + 1]);
        if (st != THRIFT_OK) {
            for (size_t j = 0; j < i; j++)
                (void)thrift_conn_set_call_header(conn, hv[2 * j], NULL);
            return st;
        }
    }
    return THRIFT_OK;
}

/* A call on the blocking connection: the GIL is released while this
 * thread drives the connection; the reply is converted (GIL taken again)
 * before another thread may call, since it is only valid until then.
 * `hv`: `nh` info header pairs for this call; `reply_headers`: a dict
 * that receives the reply's, or NULL. */
static PyObject *blocking_call(py_client_t *cl, const char *method, PyObject *argobj,
                               const char **hv, size_t nh, PyObject *reply_headers) {
    py_codec_t c;
    if (!py_codec_begin(&c, cl->so))
        return NULL;
    thrift_value_t *sv = py_args_value(cl->so, cl->service, &c, method, argobj);
    if (!sv) {
        py_codec_end(&c);
        return NULL;
    }
    thrift_error_t err;
    thrift_error_clear(&err);
    thrift_value_t *v = NULL;
    bool closed = false;
    thrift_status_t hst = THRIFT_OK;
    Py_BEGIN_ALLOW_THREADS
    pthread_mutex_lock(&cl->call_lock);
    if (!cl->bconn)
        closed = true;
    else if ((hst = set_call_headers(cl->bconn, hv, nh)) == THRIFT_OK)
        v = thrift_call(cl->bconn, method, sv, &err);
    Py_END_ALLOW_THREADS
    PyObject *out = NULL;
    if (closed) {
        raise_call_error("CLOSED", THRIFT_CLOSED, "client is closed");
    } else if (hst != THRIFT_OK) {
        PyErr_Format(PyExc_ValueError, "info header: %s", thrift_status_str(hst));
    } else {
        waiter_t w;
        memset(&w, 0, sizeof w);
        thrift_result_t *r = thrift_conn_last_result(cl->bconn);
        w.status = v ? THRIFT_OK : err.code;
        w.err = err;
        w.value = v;
        if (!v && r) {
            w.status = thrift_result_status(r);
            w.app_type = thrift_result_app_type(r);
            w.value = thrift_result_value(r);
        }
        const char *k, *hval;
        for (size_t i = 0; reply_headers && r && thrift_result_header_at(r, i, &k, &hval); i++) {
            if (header_dict_set(reply_headers, k, hval) < 0) {
                PyErr_Clear(); /* the call's outcome matters more than its headers */
                break;
            }
        }
        out = call_outcome(cl->so, &w);
    }
    pthread_mutex_unlock(&cl->call_lock);
    py_codec_end(&c);
    return out;
}

/* call(method, args instance, headers=None, reply_headers=None):
 * `headers` a flat tuple (key, value, ...) of info headers for this call;
 * `reply_headers` a dict to receive the reply's. */
static PyObject *client_call(py_client_t *cl, PyObject *args) {
    const char *method;
    PyObject *argobj, *headers = Py_None, *reply_headers = Py_None;
    if (!PyArg_ParseTuple(args, "sO|OO:call", &method, &argobj, &headers, &reply_headers))
        return NULL;
    if (!cl->so)
        return PyErr_Format(PyExc_RuntimeError, "client not initialized"), NULL;
    if (reply_headers != Py_None && !PyDict_Check(reply_headers))
        return PyErr_Format(PyExc_TypeError, "reply_headers: a dict expected"), NULL;
    PyObject *rh = reply_headers == Py_None ? NULL : reply_headers;
    size_t nh;
    const char **hv = call_headers_array(headers, &nh);
    if (!hv && PyErr_Occurred())
        return NULL;
    if (cl->bconn || (cl->closed && cl->event_fd < 0)) {
        PyObject *out = blocking_call(cl, method, argobj, hv, nh, rh);
        PyMem_Free(hv);
        return out;
    }
    if (!cl->conn) {
        PyMem_Free(hv);
        raise_call_error("CLOSED", THRIFT_CLOSED, "client is closed");
        return NULL;
    }
    py_codec_t c;
    if (!py_codec_begin(&c, cl->so)) {
        PyMem_Free(hv);
        return NULL;
    }
    thrift_value_t *sv = py_args_value(cl->so, cl->service, &c, method, argobj);
    if (!sv) {
        PyMem_Free(hv);
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
        st = thrift_call_submit_headers(cl->conn, method, sv, hv, nh, on_result, &w, &err);
    }
    pthread_mutex_unlock(&cl->lock);
    PyMem_Free(hv);
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
    if (rh && reply_headers_to_dict(w.reply_headers, rh) < 0)
        PyErr_Clear(); /* the call's outcome matters more than its headers */
    PyObject *out = call_outcome(cl->so, &w);
    free(w.reply_headers);
    thrift_arena_free(w.arena);
    pthread_cond_destroy(&w.cv);
    pthread_mutex_destroy(&w.m);
    return out;
}

thrift_value_t *py_args_value(py_schema_t *so, const thrift_service_def_t *service,
                              py_codec_t *c, const char *method, PyObject *argobj) {
    const thrift_function_def_t *fn = thrift_service_def_find_function(service, method);
    if (!fn)
        return PyErr_Format(PyExc_AttributeError, "no method '%s' in service %s", method,
                            thrift_service_def_name(service)), NULL;
    py_plan_t *plan = py_schema_find_plan(so, thrift_function_def_args(fn));
    if (!plan || !plan->cls)
        return PyErr_Format(PyExc_TypeError, "%s: args class not bound", method), NULL;
    if (!PyObject_TypeCheck(argobj, (PyTypeObject *)plan->cls))
        return PyErr_Format(PyExc_TypeError, "%s: a %s instance expected", method,
                            ((PyTypeObject *)plan->cls)->tp_name), NULL;
    thrift_value_t *sv = thrift_value_new_struct(c->arena, plan->def);
    if (!sv)
        return (thrift_value_t *)PyErr_NoMemory();
    if (py_struct_to_value(c, sv, plan, argobj) < 0) {
        py_path_raise(&c->path, method);
        return NULL;
    }
    return sv;
}

/* submit(method, args_instance, token): starts a call; its outcome comes
 * out of drain() with `token`.  Never blocks. */
static PyObject *client_submit(py_client_t *cl, PyObject *args) {
    const char *method;
    PyObject *argobj, *token, *headers = Py_None;
    if (!PyArg_ParseTuple(args, "sOO|O:submit", &method, &argobj, &token, &headers))
        return NULL;
    if (!cl->so)
        return PyErr_Format(PyExc_RuntimeError, "client not initialized"), NULL;
    size_t nh;
    const char **hv = call_headers_array(headers, &nh);
    if (!hv && PyErr_Occurred())
        return NULL;
    py_codec_t c;
    thrift_value_t *sv = NULL;
    async_call_t *a = NULL;
    if (py_codec_begin(&c, cl->so)) {
        sv = py_args_value(cl->so, cl->service, &c, method, argobj);
        a = sv ? PyMem_RawCalloc(1, sizeof *a) : NULL;
        if (sv && !a)
            PyErr_NoMemory();
        if (!a)
            py_codec_end(&c);
    }
    if (!a) {
        PyMem_Free(hv);
        return NULL;
    }
    a->client = cl;
    a->token = token;
    Py_INCREF(token);
    thrift_error_t err;
    thrift_error_clear(&err);
    thrift_status_t st;
    pthread_mutex_lock(&cl->lock);
    if (cl->closed || !cl->conn) {
        st = THRIFT_CLOSED;
        snprintf(err.text, sizeof err.text, "client is closed");
    } else {
        st = thrift_call_submit_headers(cl->conn, method, sv, hv, nh, on_async_result, a, &err);
    }
    pthread_mutex_unlock(&cl->lock);
    PyMem_Free(hv);
    py_codec_end(&c);
    if (st != THRIFT_OK) {
        Py_DECREF(a->token);
        PyMem_RawFree(a);
        raise_call_error(thrift_status_name(st), (int)st,
                         err.text[0] ? err.text : thrift_status_str(st));
        return NULL;
    }
    Py_RETURN_NONE;
}

/* drain() -> [(token, ok, value or exception, reply headers dict or
 * None)]: the calls finished since the last drain. */
static PyObject *client_drain(py_client_t *cl, PyObject *unused) {
    (void)unused;
    uint64_t count;
    if (cl->event_fd >= 0) {
        ssize_t n = read(cl->event_fd, &count, sizeof count);
        (void)n; /* EAGAIN: nothing new */
    }
    pthread_mutex_lock(&cl->done_lock);
    async_call_t *a = cl->done_head;
    cl->done_head = cl->done_tail = NULL;
    pthread_mutex_unlock(&cl->done_lock);
    PyObject *out = PyList_New(0);
    while (a) {
        async_call_t *next = a->next;
        PyObject *hdict = NULL;
        if (out && a->w.reply_headers) {
            hdict = PyDict_New();
            if (!hdict || reply_headers_to_dict(a->w.reply_headers, hdict) < 0) {
                Py_CLEAR(hdict);
                PyErr_Clear(); /* the call's outcome matters more than its headers */
            }
        }
        if (out) {
            PyObject *value = call_outcome(cl->so, &a->w);
            PyObject *item;
            PyObject *h = hdict ? hdict : Py_None;
            if (value) {
                item = Py_BuildValue("(OONO)", a->token, Py_True, value, h);
            } else {
                item = Py_BuildValue("(OONO)", a->token, Py_False, py_take_exception(), h);
            }
            if (!item || PyList_Append(out, item) < 0)
                Py_CLEAR(out);
            Py_XDECREF(item);
        }
        Py_XDECREF(hdict);
        free(a->w.reply_headers);
        thrift_arena_free(a->w.arena);
        Py_DECREF(a->token);
        PyMem_RawFree(a);
        a = next;
    }
    return out;
}

static PyObject *client_fileno(py_client_t *cl, PyObject *unused) {
    (void)unused;
    return PyLong_FromLong(cl->event_fd);
}

static PyObject *client_close(py_client_t *cl, PyObject *unused) {
    (void)unused;
    client_shutdown(cl);
    Py_RETURN_NONE;
}

static PyObject *client_closed(py_client_t *cl, PyObject *unused) {
    (void)unused;
    pthread_mutex_lock(&cl->lock);
    bool closed = cl->closed;
    pthread_mutex_unlock(&cl->lock);
    return PyBool_FromLong(closed);
}

static PyMethodDef client_methods[] = {
    {"call", (PyCFunction)client_call, METH_VARARGS,
     "call(method, args_instance, headers=None, reply_headers=None) -> result"},
    {"submit", (PyCFunction)client_submit, METH_VARARGS,
     "submit(method, args_instance, token, headers=None): an asyncio call; see drain()."},
    {"drain", (PyCFunction)client_drain, METH_NOARGS,
     "drain() -> [(token, ok, value, reply headers or None)]: finished asyncio calls."},
    {"fileno", (PyCFunction)client_fileno, METH_NOARGS,
     "An eventfd readable when drain() has something."},
    {"close", (PyCFunction)client_close, METH_NOARGS, "Closes the connection."},
    {"closed", (PyCFunction)client_closed, METH_NOARGS, "True once closed."},
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
typedef struct deferred deferred_t;

/* What a registered method's handler needs. */
typedef struct py_method {
    py_server_t *server;
    PyObject *handler;               /* borrowed: the server's registrations own it */
    PyObject *name;                  /* the handler's attribute */
    const thrift_function_def_t *fn;
    const py_plan_t *args_plan;
    const py_plan_t *result_plan;
    const thrift_type_def_t *ret;    /* resolved return type */
} py_method_t;

struct py_server {
    PyObject_HEAD
    py_schema_t *so;
    PyObject *registrations; /* [(service name, handler, multiplexed name or None)] */
    struct ev_loop *loop;
    thrift_rpc_server_t *srv;
    ev_async stop;
    ev_timer signals;     /* checks for Ctrl-C while serve() runs */
    ev_timer grace;       /* a graceful stop waits this long, then ends */
    double grace_seconds; /* set by close() */
    py_method_t *methods;
    size_t nmethods;
    /* Set from any thread by close(); read by the loop. */
    pthread_mutex_t lock;
    bool stop_requested;
    bool serving;
    bool stopping;
    bool interrupted;     /* serve() ended by a signal */
    /* asyncio: dispatcher(token, method, args) runs handlers elsewhere;
     * their replies queue here (any thread) for the loop to send. */
    PyObject *dispatcher;
    /* Every request gets a header context (THeader servers), not only
     * those that carry info headers. */
    bool always_headers;
    ev_async replies;
    pthread_mutex_t qlock;
    deferred_t *qhead, *qtail;
};

static void server_stopped(thrift_rpc_server_t *srv, void *ud) {
    (void)srv;
    py_server_t *s = ud;
    ev_break(s->loop, EVBREAK_ALL);
}

/* The graceful stop took too long (a handler that never answers): end
 * serve(); freeing the server then cancels what is still held. */
static void on_grace_over(struct ev_loop *loop, ev_timer *w, int revents) {
    (void)w;
    (void)revents;
    ev_break(loop, EVBREAK_ALL);
}

static void begin_stop(py_server_t *s) {
    if (s->stopping)
        return;
    s->stopping = true;
    pthread_mutex_lock(&s->lock);
    double grace = s->grace_seconds;
    pthread_mutex_unlock(&s->lock);
    ev_timer_set(&s->grace, grace, 0.);
    ev_timer_start(s->loop, &s->grace);
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

/* The handler's args as a tuple, in IDL order (absent: the default). */
static PyObject *args_tuple(py_method_t *m, thrift_request_t *req, const thrift_value_t *args) {
    py_codec_t c = {.schema = m->server->so, .arena = thrift_request_arena(req)};
    py_path_init(&c.path);
    const py_plan_t *ap = m->args_plan;
    PyObject *callargs = PyTuple_New((Py_ssize_t)ap->nfields);
    for (size_t i = 0; callargs && i < ap->nfields; i++) {
        const thrift_value_t *fv = thrift_value_get_at(args, i);
        PyObject *v;
        if (fv) {
            v = py_from_value(&c, fv);
        } else {
            v = ap->defaults ? PyTuple_GET_ITEM(ap->defaults, (Py_ssize_t)i) : Py_None;
            Py_INCREF(v);
        }
        if (!v) {
            Py_CLEAR(callargs);
            break;
        }
        PyTuple_SET_ITEM(callargs, (Py_ssize_t)i, v);
    }
    return callargs;
}

/* Answers a two-way request with what the handler produced: `ret`, or
 * (ret NULL) the current Python exception.  Needs the GIL, on the
 * request's loop thread. */
static void answer(py_method_t *m, thrift_request_t *req, PyObject *ret) {
    if (!ret) {
        reply_exception(m, req);
        return;
    }
    if (thrift_type_def_kind(m->ret) == THRIFT_KIND_VOID) {
        thrift_reply(req, NULL);
        return;
    }
    if (ret == Py_None) {
        thrift_reply_error(req, THRIFT_APPEX_MISSING_RESULT,
                           "the handler returned None for a non-void method");
        return;
    }
    py_codec_t c = {.schema = m->server->so, .arena = thrift_request_arena(req)};
    py_path_init(&c.path);
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

/* A request whose handler runs elsewhere (on the asyncio loop): its reply
 * comes back through the server's reply queue. */
struct deferred {
    struct deferred *next;
    PyObject *hctx;        /* the request's header context, or NULL */
    py_method_t *method;
    thrift_request_t *req; /* NULL once cancelled (abandoned) */
    PyObject *result;      /* set by reply(): the value or the exception */
    bool failed;
};

static void deferred_cancelled(thrift_request_t *req, void *ud) {
    deferred_t *d = ud;
    thrift_request_abandon(req);
    d->req = NULL;
}

/* The token does not own its record: reply() hands it to the server's
 * queue, which frees it.  A handler that never replies leaves it (and its
 * request, until the connection or the server goes). */
static void deferred_capsule_free(PyObject *cap) {
    (void)cap;
}

/* The header context a handler sees through dynthrift.rpc's
 * request_headers() / set_reply_header(): a tuple (dict of the request's
 * info headers, dict the handler fills for the reply).  NULL (no error)
 * for a request without info headers on a server not pinned to THeader,
 * so plain requests pay nothing; NULL with an exception on failure. */
static PyObject *request_context(py_server_t *srv, thrift_request_t *req) {
    const char *k, *v;
    if (!header_var || (!srv->always_headers && !thrift_request_header_at(req, 0, &k, &v)))
        return NULL;
    PyObject *in = PyDict_New(), *out = PyDict_New();
    for (size_t i = 0; in && thrift_request_header_at(req, i, &k, &v); i++)
        if (header_dict_set(in, k, v) < 0)
            Py_CLEAR(in);
    PyObject *ctx = in && out ? PyTuple_Pack(2, in, out) : NULL;
    Py_XDECREF(in);
    Py_XDECREF(out);
    return ctx;
}

/* Sends the reply headers the handler set in `hctx` (before answering). */
static void apply_reply_headers(thrift_request_t *req, PyObject *hctx) {
    if (!hctx)
        return;
    PyObject *out = PyTuple_GET_ITEM(hctx, 1), *k, *v;
    Py_ssize_t pos = 0;
    while (PyDict_Next(out, &pos, &k, &v)) {
        const char *key = PyUnicode_Check(k) ? PyUnicode_AsUTF8(k) : NULL;
        const char *val = PyUnicode_Check(v) ? PyUnicode_AsUTF8(v) : NULL;
        // set_reply_header checked them; what is left is out of memory.
        if (!key || !val || thrift_request_set_reply_header(req, key, val) != THRIFT_OK)
            PyErr_Clear();
    }
}

/* Calls the handler's method with `hctx` as the header context. */
static PyObject *call_handler(py_method_t *m, PyObject *callargs, PyObject *hctx) {
    PyObject *token = hctx ? PyContextVar_Set(header_var, hctx) : NULL;
    if (hctx && !token)
        return NULL;
    PyObject *meth = PyObject_GetAttr(m->handler, m->name);
    PyObject *ret = meth ? PyObject_Call(meth, callargs, NULL) : NULL;
    Py_XDECREF(meth);
    if (token) {
        PyObject *et, *ev, *etb;
        PyErr_Fetch(&et, &ev, &etb); /* the handler's exception, kept across the reset */
        if (PyContextVar_Reset(header_var, token) < 0)
            PyErr_Clear();
        PyErr_Restore(et, ev, etb);
        Py_DECREF(token);
    }
    return ret;
}

static thrift_status_t on_request(thrift_request_t *req, const thrift_value_t *args, void *ud) {
    py_method_t *m = ud;
    py_server_t *srv = m->server;
    bool oneway = thrift_request_is_oneway(req);
    PyGILState_STATE g = PyGILState_Ensure();
    PyObject *callargs = args_tuple(m, req, args);
    PyObject *hctx = callargs ? request_context(srv, req) : NULL;
    if (!hctx && PyErr_Occurred())
        Py_CLEAR(callargs);
    if (srv->dispatcher && callargs) {
        /* asyncio: hand the call to the dispatcher, answer when it replies. */
        deferred_t *d = NULL;
        PyObject *token = Py_None;
        Py_INCREF(token);
        if (!oneway) {
            d = PyMem_RawCalloc(1, sizeof *d);
            if (d) {
                d->method = m;
                d->req = req;
                Py_DECREF(token);
                token = PyCapsule_New(d, "dynthrift.deferred", deferred_capsule_free);
            }
            if (!d || !token) {
                PyMem_RawFree(d);
                Py_XDECREF(token);
                Py_DECREF(callargs);
                Py_XDECREF(hctx);
                PyErr_Clear();
                thrift_reply_error(req, THRIFT_APPEX_INTERNAL_ERROR, "out of memory");
                PyGILState_Release(g);
                return THRIFT_OK;
            }
            thrift_request_set_cancel_cb(req, deferred_cancelled, d);
            d->hctx = hctx; /* the reply's headers are read from it */
            Py_XINCREF(hctx);
        }
        PyObject *meth = PyObject_GetAttr(m->handler, m->name);
        PyObject *r = meth ? PyObject_CallFunction(srv->dispatcher, "OOOO", token, meth, callargs,
                                                   hctx ? hctx : Py_None)
                           : NULL;
        Py_XDECREF(meth);
        Py_DECREF(callargs);
        Py_DECREF(token);
        Py_XDECREF(hctx);
        if (!r) {
            if (d) { /* never dispatched: answer now */
                thrift_request_set_cancel_cb(req, NULL, NULL);
                reply_exception(m, req);
                Py_XDECREF(d->hctx);
                PyMem_RawFree(d);
            } else {
                log_failure(PyUnicode_AsUTF8(m->name));
            }
        }
        Py_XDECREF(r);
        PyGILState_Release(g);
        return THRIFT_OK;
    }
    PyObject *ret = NULL;
    if (callargs) {
        ret = call_handler(m, callargs, hctx);
        Py_DECREF(callargs);
    }
    if (oneway) {
        if (!ret)
            log_failure(PyUnicode_AsUTF8(m->name));
    } else {
        apply_reply_headers(req, hctx);
        answer(m, req, ret);
    }
    Py_XDECREF(hctx);
    Py_XDECREF(ret);
    PyGILState_Release(g);
    return THRIFT_OK;
}

/* On the server loop: answers every deferred request replied to. */
static void on_replies(struct ev_loop *loop, ev_async *w, int revents) {
    (void)loop;
    (void)revents;
    py_server_t *s = w->data;
    pthread_mutex_lock(&s->qlock);
    deferred_t *d = s->qhead;
    s->qhead = s->qtail = NULL;
    pthread_mutex_unlock(&s->qlock);
    if (!d)
        return;
    PyGILState_STATE g = PyGILState_Ensure();
    while (d) {
        deferred_t *next = d->next;
        if (d->req) {
            thrift_request_set_cancel_cb(d->req, NULL, NULL);
            apply_reply_headers(d->req, d->hctx);
            if (d->failed) {
                PyErr_SetObject((PyObject *)Py_TYPE(d->result), d->result);
                answer(d->method, d->req, NULL);
            } else {
                answer(d->method, d->req, d->result);
            }
        }
        Py_XDECREF(d->result);
        Py_XDECREF(d->hctx);
        PyMem_RawFree(d);
        d = next;
    }
    PyGILState_Release(g);
}

/* reply(token, ok, value): from any thread, for a dispatched request. */
static PyObject *server_reply(py_server_t *s, PyObject *args) {
    PyObject *token, *value;
    int ok;
    if (!PyArg_ParseTuple(args, "OpO:reply", &token, &ok, &value))
        return NULL;
    if (token == Py_None)
        Py_RETURN_NONE; /* oneway */
    deferred_t *d = PyCapsule_GetPointer(token, "dynthrift.deferred");
    if (!d)
        return NULL;
    if (PyCapsule_SetPointer(token, (void *)&s->qlock) < 0) /* replied once */
        return NULL;
    if (d == (void *)&s->qlock)
        return PyErr_Format(PyExc_RuntimeError, "request already answered");
    if (!ok && !PyExceptionInstance_Check(value))
        return PyErr_Format(PyExc_TypeError, "reply: an exception expected");
    Py_INCREF(value);
    d->result = value;
    d->failed = !ok;
    pthread_mutex_lock(&s->lock);
    bool live = s->srv != NULL;
    if (live) {
        pthread_mutex_lock(&s->qlock);
        if (s->qtail)
            s->qtail->next = d;
        else
            s->qhead = d;
        s->qtail = d;
        pthread_mutex_unlock(&s->qlock);
        ev_async_send(s->loop, &s->replies);
    }
    pthread_mutex_unlock(&s->lock);
    if (!live) { /* the server is gone: its requests went with it */
        Py_DECREF(value);
        Py_XDECREF(d->hctx);
        PyMem_RawFree(d);
    }
    Py_RETURN_NONE;
}

/* Frees the engine server and the loop.  With `only_if_idle`, does
 * nothing while serve() runs (it frees them itself when it returns).
 * reply() and close() from other threads look at `srv` and the loop under
 * the lock: once this has taken them, none touches them. */
static void server_free_engine(py_server_t *s, bool only_if_idle) {
    pthread_mutex_lock(&s->lock);
    if (only_if_idle && s->serving) {
        pthread_mutex_unlock(&s->lock);
        return;
    }
    thrift_rpc_server_t *srv = s->srv;
    struct ev_loop *loop = s->loop;
    s->srv = NULL;
    s->loop = NULL;
    pthread_mutex_unlock(&s->lock);
    if (srv) {
        Py_BEGIN_ALLOW_THREADS /* worker loops may be waiting for the GIL */
        thrift_rpc_server_free(srv);
        Py_END_ALLOW_THREADS
    }
    /* Replies queued after the last drain: their requests are gone. */
    pthread_mutex_lock(&s->qlock);
    deferred_t *d = s->qhead;
    s->qhead = s->qtail = NULL;
    pthread_mutex_unlock(&s->qlock);
    while (d) {
        deferred_t *next = d->next;
        Py_XDECREF(d->result);
        Py_XDECREF(d->hctx);
        PyMem_RawFree(d);
        d = next;
    }
    if (loop) {
        ev_async_stop(loop, &s->stop);
        ev_async_stop(loop, &s->replies);
        ev_timer_stop(loop, &s->signals);
        ev_timer_stop(loop, &s->grace);
        ev_loop_destroy(loop);
    }
}

static void server_dealloc(py_server_t *s) {
    server_free_engine(s, false);
    for (size_t i = 0; i < s->nmethods; i++)
        Py_XDECREF(s->methods[i].name);
    PyMem_Free(s->methods);
    pthread_mutex_destroy(&s->lock);
    pthread_mutex_destroy(&s->qlock);
    Py_XDECREF(s->dispatcher);
    Py_XDECREF(s->registrations);
    Py_XDECREF(s->so);
    Py_TYPE(s)->tp_free((PyObject *)s);
}

/* Registers the methods of service `service` (and those it extends)
 * that `handler` has, answering multiplexed calls as "mux:method" (mux
 * NULL: the service's name). */
static int register_service(py_server_t *s, const char *service, PyObject *handler,
                            const char *mux) {
    const thrift_service_def_t *svc = thrift_schema_find_service(s->so->schema, service);
    if (!svc) {
        PyErr_Format(PyExc_ValueError, "no service '%s'", service);
        return -1;
    }
    thrift_error_t err;
    thrift_error_clear(&err);
    for (const thrift_service_def_t *p = svc; p; p = thrift_service_def_parent(p)) {
        for (size_t i = 0; i < thrift_service_def_function_count(p); i++) {
            const thrift_function_def_t *fn = thrift_service_def_function_at(p, i);
            const char *name = thrift_function_def_name(fn);
            if (thrift_service_def_find_function(svc, name) != fn)
                continue; /* overridden nearer */
            py_method_t *m = &s->methods[s->nmethods];
            m->server = s;
            m->handler = handler;
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
            if (thrift_rpc_server_handle_as(s->srv, service, mux, name, on_request, m, &err) !=
                THRIFT_OK) {
                PyErr_Format(PyExc_ValueError, "%s: %s", name, err.text);
                return -1;
            }
        }
    }
    return 0;
}

/* Server(schema, service, handler, [addresses], options dict, threads,
 * dispatcher=None, always_headers=False): `service` a service name served
 * by `handler`, or a list of (service name, handler, multiplexed name or
 * None) served together (a TMultiplexedProcessor; `handler` unused).
 * With a dispatcher, each request is handed to dispatcher(token, the
 * handler's bound method, args tuple, header context or None), which
 * answers later with reply(token, ok, value) from any thread (the handler
 * runs with the header context set: see set_header_context).
 * always_headers: every request gets a header context, not only those
 * with info headers (a THeader server).  An address may be an int: the fd
 * of a listening socket the server takes (thrift_rpc_server_listen_fd). */
static int server_init(py_server_t *s, PyObject *args, PyObject *kw) {
    (void)kw;
    PyObject *so_obj, *service, *handler, *addresses, *opts_dict, *dispatcher = Py_None;
    unsigned threads = 1;
    int always_headers = 0;
    if (!PyArg_ParseTuple(args, "O!OOOO|IOp:Server", &py_schema_type, &so_obj, &service,
                          &handler, &addresses, &opts_dict, &threads, &dispatcher,
                          &always_headers))
        return -1;
    s->always_headers = always_headers;
    if (s->so) {
        PyErr_SetString(PyExc_RuntimeError, "Server initialized twice");
        return -1;
    }
    pthread_mutex_init(&s->lock, NULL);
    pthread_mutex_init(&s->qlock, NULL);
    if (dispatcher != Py_None && threads > 1) {
        /* Dispatched replies come back through one ev_async on the first
         * loop, and a request must be answered from its connection's loop. */
        PyErr_SetString(PyExc_ValueError,
                        "handlers run elsewhere (a handler pool, asyncio) need threads=1");
        return -1;
    }
    if (dispatcher != Py_None) {
        Py_INCREF(dispatcher);
        s->dispatcher = dispatcher;
    }
    Py_INCREF(so_obj);
    s->so = (py_schema_t *)so_obj;
    s->registrations = PyUnicode_Check(service) ? Py_BuildValue("[(OOO)]", service, handler, Py_None)
                                                : PySequence_List(service);
    if (!s->registrations)
        return -1;
    Py_ssize_t nregs = PyList_GET_SIZE(s->registrations);
    size_t total = 0;
    for (Py_ssize_t r = 0; r < nregs; r++) {
        PyObject *reg = PyList_GET_ITEM(s->registrations, r);
        const char *name = PyTuple_Check(reg) && PyTuple_GET_SIZE(reg) == 3
                               ? PyUnicode_AsUTF8(PyTuple_GET_ITEM(reg, 0))
                               : NULL;
        if (!name) {
            PyErr_Format(PyExc_TypeError, "Server: (service, handler, mux name) tuples expected");
            return -1;
        }
        const thrift_service_def_t *svc = thrift_schema_find_service(s->so->schema, name);
        if (!svc) {
            PyErr_Format(PyExc_ValueError, "no service '%s'", name);
            return -1;
        }
        for (const thrift_service_def_t *p = svc; p; p = thrift_service_def_parent(p))
            total += thrift_service_def_function_count(p);
    }
    thrift_conn_options_t *opts = thrift_conn_options_new();
    if (!opts) {
        PyErr_NoMemory();
        return -1;
    }
    if (!py_conn_options_from_dict(opts, opts_dict)) {
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
    ev_async_init(&s->replies, on_replies);
    s->replies.data = s;
    ev_async_start(s->loop, &s->replies);
    ev_timer_init(&s->signals, on_signal_check, 0.1, 0.1);
    ev_timer_init(&s->grace, on_grace_over, 5., 0.);
    s->grace_seconds = 5.0;
    s->signals.data = s;
    /* Every method of each service and of the services it extends. */
    s->methods = PyMem_Calloc(total ? total : 1, sizeof *s->methods);
    if (!s->methods) {
        PyErr_NoMemory();
        return -1;
    }
    for (Py_ssize_t r = 0; r < nregs; r++) {
        PyObject *reg = PyList_GET_ITEM(s->registrations, r);
        PyObject *mux = PyTuple_GET_ITEM(reg, 2);
        const char *mux_name = mux == Py_None ? NULL : PyUnicode_AsUTF8(mux);
        if ((mux != Py_None && !mux_name) ||
            register_service(s, PyUnicode_AsUTF8(PyTuple_GET_ITEM(reg, 0)),
                             PyTuple_GET_ITEM(reg, 1), mux_name) < 0)
            return -1;
    }
    Py_ssize_t n = PySequence_Length(addresses);
    if (n < 0)
        return -1;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *a = PySequence_GetItem(addresses, i);
        if (a && PyLong_Check(a)) { /* a listening socket's fd, given to the server */
            long fd = PyLong_AsLong(a);
            Py_DECREF(a);
            if (fd == -1 && PyErr_Occurred())
                return -1;
            if (fd < 0 || fd > INT_MAX)
                return PyErr_Format(PyExc_ValueError, "fd %ld out of range", fd), -1;
            if (thrift_rpc_server_listen_fd(s->srv, (int)fd, &err) != THRIFT_OK) {
                PyErr_Format(PyExc_OSError, "listen on fd %ld: %s", fd, err.text);
                return -1;
            }
            continue;
        }
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
    pthread_mutex_lock(&s->lock);
    bool already = s->serving, closed = !s->srv, stop_now = s->stop_requested;
    if (!already && !closed)
        s->serving = true;
    pthread_mutex_unlock(&s->lock);
    if (already)
        return PyErr_Format(PyExc_RuntimeError, "serve() is already running");
    if (closed) {
        if (stop_now) /* closed before it started: nothing to serve */
            Py_RETURN_NONE;
        return PyErr_Format(PyExc_RuntimeError, "server is closed");
    }
    if (stop_now)
        begin_stop(s);
    if (check_signals)
        ev_timer_start(s->loop, &s->signals);
    Py_BEGIN_ALLOW_THREADS
    ev_run(s->loop, 0);
    Py_END_ALLOW_THREADS
    ev_timer_stop(s->loop, &s->signals);
    server_free_engine(s, false);
    pthread_mutex_lock(&s->lock);
    s->serving = false;
    pthread_mutex_unlock(&s->lock);
    Py_RETURN_NONE;
}

/* close(grace_seconds=5.0): in-flight requests get that long to be
 * answered before the connections close anyway. */
static PyObject *server_close(py_server_t *s, PyObject *args) {
    double grace = 5.0;
    if (!PyArg_ParseTuple(args, "|d:close", &grace))
        return NULL;
    pthread_mutex_lock(&s->lock);
    bool serving = s->serving;
    s->stop_requested = true;
    s->grace_seconds = grace < 0 ? 0 : grace;
    /* serve() finishes the graceful stop on its loop and returns; the
     * loop lives while `srv` is set (see server_free_engine). */
    if (serving && s->srv)
        ev_async_send(s->loop, &s->stop);
    pthread_mutex_unlock(&s->lock);
    if (!serving)
        server_free_engine(s, true);
    Py_RETURN_NONE;
}

static PyObject *server_port(py_server_t *s, PyObject *unused) {
    (void)unused;
    pthread_mutex_lock(&s->lock);
    int port = s->srv ? thrift_rpc_server_port(s->srv) : 0;
    pthread_mutex_unlock(&s->lock);
    return PyLong_FromLong(port);
}

static PyObject *server_interrupted(py_server_t *s, PyObject *unused) {
    (void)unused;
    return PyBool_FromLong(s->interrupted);
}

static PyMethodDef server_methods[] = {
    {"serve", (PyCFunction)server_serve, METH_VARARGS,
     "Runs the server until close() or Ctrl-C."},
    {"close", (PyCFunction)server_close, METH_VARARGS,
     "close(grace_seconds=5.0): stops serving (from any thread)."},
    {"port", (PyCFunction)server_port, METH_NOARGS, "The first TCP listener's port."},
    {"reply", (PyCFunction)server_reply, METH_VARARGS,
     "reply(token, ok, value): answers a dispatched request (any thread)."},
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

/* set_header_context(contextvar): the ContextVar handlers read their
 * request's header context from (dynthrift.headers.request_headers). */
static PyObject *set_header_context(PyObject *self, PyObject *var) {
    (void)self;
    if (!PyContextVar_CheckExact(var))
        return PyErr_Format(PyExc_TypeError, "a contextvars.ContextVar expected");
    Py_INCREF(var);
    Py_XSETREF(header_var, var);
    Py_RETURN_NONE;
}

static PyMethodDef rpc_functions[] = {
    {"set_header_context", set_header_context, METH_O,
     "set_header_context(contextvar): where handlers find their request's headers."},
    {"set_rpc_hooks", set_rpc_hooks, METH_VARARGS,
     "set_rpc_hooks(error_factory, TApplicationException, log_func)"},
    {NULL, NULL, 0, NULL}};

int py_rpc_init(PyObject *module) {
    if (PyType_Ready(&py_client_type) < 0 || PyType_Ready(&py_server_type) < 0)
        return -1;
    Py_INCREF(&py_client_type);
    Py_INCREF(&py_server_type);
    if (PyModule_AddObject(module, "Client", (PyObject *)&py_client_type) < 0 ||
        PyModule_AddObject(module, "Server", (PyObject *)&py_server_type) < 0 ||
        py_cluster_init(module) < 0)
        return -1;
    return PyModule_AddFunctions(module, rpc_functions);
}
