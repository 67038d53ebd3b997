/* A complete client for PingPong, schema loaded at run time: IDL ADDRESS */
#include <dynthrift/dynthrift.h>
#include <stdio.h>

int main(int argc, char **argv) {
    if (argc != 3)
        return fprintf(stderr, "usage: %s IDL ADDRESS\n", argv[0]), 2;
    thrift_error_t err = {0};
    thrift_schema_t *s = thrift_load(argv[1], &err);
    thrift_conn_t *c = s ? thrift_connect(s, "PingPong", argv[2], NULL, &err) : NULL;
    thrift_value_t *pong = c ? thrift_call(c, "ping", NULL, &err) : NULL;
    if (pong) {
        size_t len;
        const uint8_t *text = thrift_value_bytes(pong, &len);
        printf("ping -> %.*s\n", (int)len, (const char *)text);
        /* Arguments by name, as a value tree ... */
        thrift_arena_t *arena = thrift_arena_new(NULL);
        thrift_value_t *args = thrift_conn_new_args(c, arena, "add", &err);
        thrift_value_set_int(thrift_value_field(arena, args, "a"), 2);
        thrift_value_set_int(thrift_value_field(arena, args, "b"), 40);
        thrift_value_t *sum = thrift_call(c, "add", args, &err);
        if (sum)
            printf("add(2, 40) -> %lld\n", (long long)thrift_value_int(sum));
        thrift_arena_free(arena);

        /* ... or as JSON text, by name or by position. */
        char *json = sum ? thrift_call_json(c, "add", "[1, 1]", &err) : NULL;
        if (json)
            printf("add [1, 1] -> %s\n", json);
        thrift_json_text_free(json);
    }
    if (err.code != THRIFT_OK) { /* file:line:col for IDL errors, a value path for bad data */
        char msg[512];
        thrift_error_render(&err, true, msg, sizeof msg);
        fprintf(stderr, "pingpong_client: %s\n", msg);
    }
    thrift_conn_free(c), thrift_schema_unref(s);
    return err.code != THRIFT_OK;
}
