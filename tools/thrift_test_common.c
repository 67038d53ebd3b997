/* thrift_test_common: see thrift_test_common.h. */
#include "thrift_test_common.h"

#include <stdio.h>
#include <string.h>

const char *tt_opt_value(int argc, char **argv, int *i, const char *name) {
    size_t n = strlen(name);
    if (strncmp(argv[*i], name, n))
        return NULL;
    if (argv[*i][n] == '=')
        return argv[*i] + n + 1;
    if (argv[*i][n] == 0 && *i + 1 < argc)
        return argv[++*i];
    return NULL;
}

bool tt_multiplexed_protocol(const char **protocol) {
    const char *p = *protocol;
    if (strcmp(p, "multi") && strcmp(p, "multic") && strcmp(p, "multij"))
        return false;
    *protocol = !strcmp(p, "multi") ? "binary" : !strcmp(p, "multic") ? "compact" : "json";
    return true;
}

static const char *const default_idls[] = {
    "../shared/idl-corpus/apache-thrift/test/v0.16/ThriftTest.thrift",
    "../shared/idl-corpus/apache-thrift/test/ThriftTest.thrift",
    "../../shared/idl-corpus/apache-thrift/test/v0.16/ThriftTest.thrift",
    "../../shared/idl-corpus/apache-thrift/test/ThriftTest.thrift",
};

const char *tt_default_idl(void) {
    for (size_t i = 0; i < sizeof default_idls / sizeof *default_idls; i++) {
        FILE *f = fopen(default_idls[i], "r");
        if (f) {
            fclose(f);
            return default_idls[i];
        }
    }
    return NULL;
}
