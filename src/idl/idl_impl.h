/* Internal interface between the IDL lexer and the parser/linker. */
#ifndef DYNTHRIFT_IDL_IMPL_H
#define DYNTHRIFT_IDL_IMPL_H

#include <setjmp.h>

#include "schema/schema_impl.h"

typedef enum idl_tok {
    TK_EOF,
    TK_IDENT,  /* [A-Za-z_](\.?[A-Za-z0-9_])* */
    TK_INT,    /* decimal or hex, also true/false as Apache lexes them */
    TK_DOUBLE,
    TK_STRING, /* '...' or "...", escapes decoded */
    TK_SYM,    /* one of : ; , { } ( ) = < > [ ] * & */
    /* keywords */
    KW_NAMESPACE,
    KW_CPP_INCLUDE,
    KW_CPP_TYPE,
    KW_XSD_ALL,
    KW_XSD_OPTIONAL,
    KW_XSD_NILLABLE,
    KW_XSD_ATTRS,
    KW_INCLUDE,
    KW_VOID,
    KW_BOOL,
    KW_BYTE,
    KW_I8,
    KW_I16,
    KW_I32,
    KW_I64,
    KW_DOUBLE,
    KW_STRING,
    KW_BINARY,
    KW_UUID,
    KW_MAP,
    KW_LIST,
    KW_SET,
    KW_ONEWAY,
    KW_ASYNC,
    KW_TYPEDEF,
    KW_STRUCT,
    KW_UNION,
    KW_EXCEPTION,
    KW_EXTENDS,
    KW_THROWS,
    KW_SERVICE,
    KW_ENUM,
    KW_CONST,
    KW_REQUIRED,
    KW_OPTIONAL,
    TK_COUNT_
} idl_tok_t;

typedef struct idl_token {
    idl_tok_t kind;
    char sym;          /* TK_SYM */
    const char *start; /* the token's text in the source */
    size_t len;
    int line, column;
    int64_t i;        /* TK_INT */
    double d;         /* TK_DOUBLE */
    const char *str;  /* TK_STRING: decoded (NUL-terminated) */
    size_t str_len;
} idl_token_t;

/* One source text being loaded. */
typedef struct idl_source {
    const char *name; /* as given or provided; in the schema arena */
    const char *text;
    size_t len;
} idl_source_t;

enum {
    IDL_DOC_INVALID,
    IDL_DOC_CANDIDATE,
    IDL_DOC_SURE,
    IDL_DOC_NONE,
    IDL_DOC_PROCESSED
};

typedef struct idl_lexer {
    const idl_source_t *src;
    const char *p, *end;
    const char *line_start;
    int line;
    thrift_arena_t *scratch; /* decoded strings */
    thrift_arena_t *arena;   /* doc texts (they end up in the schema) */
    const char *doc;         /* the last doc comment not yet captured */
    const char *first_doc;   /* the file's first doc comment */
    /* Apache's program-doc state machine: the first doc comment is the
     * file's doc unless a definition takes it before any header follows. */
    int first_doc_state;     /* IDL_DOC_* */
    bool last_doc_is_first;  /* the newest doc comment is the first one */
    thrift_error_t *err;
    jmp_buf *fail; /* longjmp target on error */
} idl_lexer_t;

void thrift__idl_lexer_init(idl_lexer_t *lx, const idl_source_t *src,
                            thrift_arena_t *arena, thrift_arena_t *scratch,
                            thrift_error_t *err, jmp_buf *fail);
/* Scans the next token into *tok; on a lexical error fills the error and
 * longjmps. */
void thrift__idl_next(idl_lexer_t *lx, idl_token_t *tok);
/* The token kind's spelling for messages ("identifier", "'{'", "struct"). */
const char *thrift__idl_tok_name(idl_tok_t kind);

/* Fills `err` with an IDL error at src:line:col, including the source line,
 * unless it already holds one. */
void thrift__idl_error(thrift_error_t *err, const idl_source_t *src, int line,
                       int column, thrift_status_t code, const char *fmt,
                       ...) THRIFT_PRINTF(6, 7);
void thrift__idl_verror(thrift_error_t *err, const idl_source_t *src, int line,
                        int column, thrift_status_t code, const char *fmt,
                        va_list ap);

/* Apache's doc comment clean-up of text[0..len) (plus a blank when
 * `trailing_blank`: Apache turns the closing star into one): strips the
 * common "*" prefix and indentation; NULL when the comment is blank.  The
 * result is allocated in `arena`, temporaries in `scratch`; *oom tells an
 * allocation failure from a blank comment. */
char *thrift__idl_clean_doc(thrift_arena_t *arena, thrift_arena_t *scratch,
                            const char *text, size_t len, bool trailing_blank,
                            bool *oom);

#endif
