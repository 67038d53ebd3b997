#include <stdio.h>

#include "base.h"

static const char *const status_names[] = {
#define NAME_(name, text) "THRIFT_" #name,
    THRIFT_STATUS_MAP(NAME_)
#undef NAME_
};

static const char *const status_texts[] = {
#define TEXT_(name, text) text,
    THRIFT_STATUS_MAP(TEXT_)
#undef TEXT_
};

const char *thrift_status_name(thrift_status_t status) {
    if ((unsigned)status >= THRIFT_STATUS_COUNT_)
        return "THRIFT_UNKNOWN_STATUS";
    return status_names[status];
}

const char *thrift_status_str(thrift_status_t status) {
    if ((unsigned)status >= THRIFT_STATUS_COUNT_)
        return "unknown status";
    return status_texts[status];
}

void thrift_error_clear(thrift_error_t *err) {
    if (err)
        memset(err, 0, sizeof *err);
}

thrift_status_t thrift__error_vset(thrift_error_t *err, thrift_status_t code,
                                   const char *fmt, va_list ap) {
    if (!err || err->code != THRIFT_OK)
        return code;
    err->code = code;
    vsnprintf(err->text, sizeof err->text, fmt, ap);
    return code;
}

thrift_status_t thrift__error_set(thrift_error_t *err, thrift_status_t code,
                                  const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    thrift__error_vset(err, code, fmt, ap);
    va_end(ap);
    return code;
}

void thrift__error_set_source(thrift_error_t *err, const char *source) {
    if (err)
        snprintf(err->source, sizeof err->source, "%s", source ? source : "");
}

void thrift__error_path_prepend(thrift_error_t *err, const char *component,
                                bool is_index) {
    if (!err)
        return;
    /* Built right to left in a scratch buffer; a path too long for the
     * struct keeps its head (the outermost names), which matter most. */
    char tmp[sizeof err->path];
    size_t clen = strlen(component);
    size_t plen = strlen(err->path);
    bool dot = err->path[0] && err->path[0] != '[';
    size_t n = 0;
    if (is_index)
        tmp[n++] = '[';
    for (size_t i = 0; i < clen && n < sizeof tmp - 1; i++)
        tmp[n++] = component[i];
    if (is_index && n < sizeof tmp - 1)
        tmp[n++] = ']';
    if (dot && n < sizeof tmp - 1)
        tmp[n++] = '.';
    for (size_t i = 0; i < plen && n < sizeof tmp - 1; i++)
        tmp[n++] = err->path[i];
    tmp[n] = '\0';
    memcpy(err->path, tmp, n + 1);
}

/* snprintf that tracks the would-be length and never overruns. */
typedef struct {
    char *out;
    size_t size;
    size_t len;
} sink_t;

THRIFT_PRINTF(2, 3)
static void sink_printf(sink_t *s, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    size_t room = s->len < s->size ? s->size - s->len : 0;
    int n = vsnprintf(room ? s->out + s->len : NULL, room, fmt, ap);
    va_end(ap);
    if (n > 0)
        s->len += (size_t)n;
}

size_t thrift_error_render(const thrift_error_t *err, bool caret, char *out,
                           size_t size) {
    sink_t s = {out, size, 0};
    if (size)
        out[0] = '\0';
    if (!err)
        return 0;
    if (err->source[0]) {
        if (err->line > 0 && err->column > 0)
            sink_printf(&s, "%s:%d:%d: ", err->source, err->line, err->column);
        else if (err->line > 0)
            sink_printf(&s, "%s:%d: ", err->source, err->line);
        else if (err->has_offset)
            sink_printf(&s, "%s@%zu: ", err->source, err->offset);
        else
            sink_printf(&s, "%s: ", err->source);
    }
    if (err->path[0])
        sink_printf(&s, "%s: ", err->path);
    sink_printf(&s, "%s",
                err->text[0] ? err->text : thrift_status_str(err->code));
    if (caret && err->line > 0 && err->line_text[0]) {
        sink_printf(&s, "\n%s\n", err->line_text);
        /* Tabs in the line stay tabs under it so the caret lines up. */
        for (int i = 1; i < err->column && err->line_text[i - 1]; i++)
            sink_printf(&s, "%c", err->line_text[i - 1] == '\t' ? '\t' : ' ');
        sink_printf(&s, "^");
    }
    return s.len;
}
