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
