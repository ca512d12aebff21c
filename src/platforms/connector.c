/* connector.c — what the connectors share: turning an HTTP outcome into the retry logic's
 * view of it (core/retry.h). Depends on net/http and core/retry. */
#include "platforms/connector.h"

#include <stdio.h>

#include "net/http.h"

static void feed_header(void *ud, const char *name, const char *value)
{
    sb_retry_header_parse(ud, name, value, sb_loop_now_ms());
}

void sb_send_result_from_http(struct sb_send_result *res, const struct sb_http_resp *r,
                              const char *error_name)
{
    sb_retry_response_init(&res->resp);
    res->resp.http_status = (int)r->status;
    res->resp.transport = r->transport == SB_HTTP_T_CONNECT   ? SB_RETRY_TRANSPORT_CONNECT
                          : r->transport == SB_HTTP_T_TIMEOUT ? SB_RETRY_TRANSPORT_TIMEOUT
                          : r->transport == SB_HTTP_T_LOST    ? SB_RETRY_TRANSPORT_LOST
                                                              : SB_RETRY_TRANSPORT_NONE;
    if (error_name) {
        snprintf(res->error_name, sizeof res->error_name, "%s", error_name);
        res->resp.error_name = res->error_name;
    }
    sb_http_headers_each(r, feed_header, &res->resp);
}
