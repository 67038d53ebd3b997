/* `call` and `bench` over several servers: a thrift_cluster_t made from
 * `--addr a:1,b:2` (or repeated --addr) or `--addr zk://HOSTS/PATH` (a
 * ZooKeeper ServerSet), balanced (--balance) or hashed by an argument
 * (--hash-arg); `call --all` runs the call on every server.  The single-server
 * paths of cmd_call.c and cmd_bench.c hand over here as soon as one of these
 * appears on the command line. */
#ifndef DYNTHRIFT_CLI_CLUSTER_H
#define DYNTHRIFT_CLI_CLUSTER_H

#include <stdbool.h>
#include <stdio.h>

#include "dynthrift/pool.h"

#define CLI_CLUSTER_MAX_SERVERS 256

/* The servers and routing options of a cluster as given on a command line
 * (call's and bench's --addr, gateway's --upstream; --balance, --hash-arg).
 * Zero-initialise; free with cli_cluster_spec_free. */
typedef struct cli_cluster_spec {
    const char *addrs[CLI_CLUSTER_MAX_SERVERS]; /* point into split */
    size_t naddrs;
    char *split[CLI_CLUSTER_MAX_SERVERS]; /* owned copies of the pieces of comma lists */
    size_t nsplit;
    const char *zk; /* a zk:// URL (borrowed from argv), or NULL */
    thrift_balance_t balance;
    bool hash;
    const char *hash_arg; /* borrowed from argv */
} cli_cluster_spec_t;

void cli_cluster_spec_free(cli_cluster_spec_t *spec);
/* One server option value `v` (of option `opt`, for messages): a zk:// URL
 * or a comma list of servers.  0, or -1 with the message printed. */
int cli_cluster_spec_take_addr(cli_cluster_spec_t *spec, const char *cmd, const char *opt,
                               const char *v);
/* --balance / --hash-arg at argv[*i]: 1 taken, 0 not one of them, -1 error
 * (printed). */
int cli_cluster_spec_take_opt(cli_cluster_spec_t *spec, int argc, char **argv, int *i,
                              const char *cmd);
/* True when the spec names more than one server, a zk:// URL or a routing
 * option (--balance, --hash-arg). */
bool cli_cluster_spec_is_cluster(const cli_cluster_spec_t *spec);
/* A cluster of `service` on `loop` with the spec's servers and routing
 * (--hash-arg for `method`, NULL: every method that has the argument), and
 * for a zk:// spec the ServerSet followed (*ss, read once before this
 * returns).  Returns 0 with *cl (and *ss) owned by the caller, or the exit
 * code with the message printed (*cl, *ss may be set: free them). */
int cli_cluster_spec_build(const cli_cluster_spec_t *spec, const char *cmd, const char *opt,
                           struct ev_loop *loop, thrift_schema_t *schema, const char *service,
                           const char *method, const thrift_conn_options_t *co,
                           const thrift_pool_options_t *po, thrift_cluster_t **cl,
                           thrift_serverset_t **ss);

/* True when argv asks for a cluster: an --addr list or zk:// URL, --addr
 * given twice, --balance, --hash-arg or --all. */
bool cli_cluster_wanted(int argc, char **argv);
/* Prints the cluster options (appended to call's and bench's --help). */
void cli_cluster_usage(FILE *out);
/* The cluster flavours of the commands; argv as for cmd_call / cmd_bench.
 * Return the command's exit code. */
int cli_cluster_call(int argc, char **argv);
int cli_cluster_bench(int argc, char **argv);

#endif
