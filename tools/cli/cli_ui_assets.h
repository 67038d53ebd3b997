/* The web UI's static files, embedded at build time by tools/embed_files.py
 * (see tools/meson.build): static data, valid for the process lifetime. */
#ifndef DYNTHRIFT_CLI_UI_ASSETS_H
#define DYNTHRIFT_CLI_UI_ASSETS_H

#include <stddef.h>

typedef struct cli_ui_asset {
    const char *path;         /* "/ui/app.js" */
    const char *content_type; /* "text/javascript; charset=utf-8" */
    const unsigned char *data;
    size_t len;
} cli_ui_asset_t;

/* Ends with an entry whose path is NULL. */
extern const cli_ui_asset_t cli_ui_assets[];

#endif
