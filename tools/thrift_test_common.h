/* thrift_test_common: what thrift_test_client and thrift_test_server share —
 * their command-line conventions (Apache's cross-test scripts drive both the
 * same way) and where ThriftTest.thrift is looked for.  Tools only. */
#ifndef DYNTHRIFT_TOOLS_THRIFT_TEST_COMMON_H
#define DYNTHRIFT_TOOLS_THRIFT_TEST_COMMON_H

#include <stdbool.h>

/* `--name=value` or `--name value`: the value (advancing *i past a separate
 * one), or NULL when argv[*i] is not that option. */
const char *tt_opt_value(int argc, char **argv, int *i, const char *name);

/* Apache's Python test scripts name the multiplexed protocols multi, multic,
 * multij: maps those to binary, compact, json and returns true; any other
 * name is left as it is and false returned. */
bool tt_multiplexed_protocol(const char **protocol);

/* The first ThriftTest.thrift of the shared corpus that opens, or NULL. */
const char *tt_default_idl(void);

#endif
