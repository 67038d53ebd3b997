#include <stdio.h>
#include <string.h>

#include "cli.h"

static const cli_command_t commands[] = {
    {"idl", "load a .thrift file and print its schema (text or Apache's JSON)", NULL},
    {"list", "list the services of a .thrift file, or a service's methods", NULL},
    {"describe", "a method's signature and a JSON template of its arguments", NULL},
    {"encode", "JSON value on stdin -> Thrift bytes on stdout", NULL},
    {"decode", "Thrift bytes on stdin -> JSON value on stdout", NULL},
    {"call", "call a method of a Thrift server, JSON in, JSON out", NULL},
    {"serve", "serve a service: --mock fixtures, --exec a program, --echo", NULL},
    {"bench", "load-test a Thrift server (a wrk for Thrift)", NULL},
    {"gateway", "JSON/HTTP gateway and web UI in front of a Thrift server", NULL},
    {"ui", "the gateway's web UI on a free local port (prints its URL)", NULL},
};

static int (*command_fn(const char *name))(int, char **) {
    if (!strcmp(name, "idl")) return cmd_idl;
    if (!strcmp(name, "list")) return cmd_list;
    if (!strcmp(name, "describe")) return cmd_describe;
    if (!strcmp(name, "encode")) return cmd_encode;
    if (!strcmp(name, "decode")) return cmd_decode;
    if (!strcmp(name, "call")) return cmd_call;
    if (!strcmp(name, "serve")) return cmd_serve;
    if (!strcmp(name, "bench")) return cmd_bench;
    if (!strcmp(name, "gateway")) return cmd_gateway;
    if (!strcmp(name, "ui")) return cmd_ui;
    return NULL;
}

static void usage(FILE *out) {
    fprintf(out, "usage: dynthrift COMMAND [ARGS...]   (dynthrift help COMMAND)\n\n"
                 "dynthrift %s: load .thrift files at run time; encode, decode,\n"
                 "call and serve any method by name.\n\ncommands:\n",
            THRIFT_VERSION_STRING);
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (command_fn(commands[i].name))
            fprintf(out, "  %-8s %s\n", commands[i].name, commands[i].summary);
    fprintf(out, "  %-8s %s\n  %-8s %s\n", "help", "help CMD: the same as CMD --help",
            "version", "the version (also --version)");
    fprintf(out, "\nexit codes: 0 ok, 1 declared exception, 2 application exception,\n"
                 "3 transport or timeout error, 64 bad usage, 65 bad input, 70 internal error\n"
                 "(bench: 1 when no call succeeded or a --fail-on-error/--max-p99 check failed)\n"
                 "environment: DYNTHRIFT_PATH, directories (colon-separated) searched after -I\n"
                 "for includes and for a FILE not found in the current directory\n");
}

static int unknown_command(const char *name) {
    fprintf(stderr, "dynthrift: unknown command '%s'\n\n", name);
    usage(stderr);
    return CLI_EXIT_USAGE;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        usage(stderr);
        return CLI_EXIT_USAGE;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") ||
        (!strcmp(argv[1], "help") && argc == 2)) {
        usage(stdout);
        return CLI_EXIT_OK;
    }
    if (!strcmp(argv[1], "help")) {
        // "help CMD" is "CMD --help", as git and go have it.
        int (*fn)(int, char **) = command_fn(argv[2]);
        if (!fn)
            return unknown_command(argv[2]);
        char help[] = "--help";
        char *args[] = {argv[2], help, NULL};
        return fn(2, args);
    }
    if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "version")) {
        printf("dynthrift %s\n", THRIFT_VERSION_STRING);
        return CLI_EXIT_OK;
    }
    int (*fn)(int, char **) = command_fn(argv[1]);
    if (!fn)
        return unknown_command(argv[1]);
    return fn(argc - 1, argv + 1);
}
