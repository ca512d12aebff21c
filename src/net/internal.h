/* internal.h — glue shared by the files of src/net (not a public header). */
#ifndef SB_NET_INTERNAL_H
#define SB_NET_INTERNAL_H

#include <libwebsockets.h>

#include "net/loop.h"

enum sb_err sb_http_engine_new(struct sb_loop *l, struct sb_http_engine **out,
                               struct sb_errbuf *eb);
void sb_http_engine_free(struct sb_http_engine *h);

int sb_ws_lws_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                       size_t len);

#endif
