/* detect.c — pick the mapper for a JSON event by its shape (see detect.h).
 * Depends on jansson, platforms/mastodon/map, platforms/bluesky/map, core/post_json. */
#include "platforms/detect.h"

#include "core/post_json.h"
#include "platforms/bluesky/map.h"
#include "platforms/mastodon/map.h"

static bool has(const json_t *o, const char *key)
{
    return json_object_get(o, key) != NULL;
}

enum sb_err sb_platform_map_json(const json_t *root, struct sb_event *ev, struct sb_errbuf *eb)
{
    enum sb_err e;
    if (!json_is_object(root)) {
        sb_event_reset(ev);
        return sb_errf(eb, SB_ERR_SCHEMA, "unrecognized event shape: not a JSON object");
    }
    if (has(root, "kind") && has(root, "did"))
        return sb_bluesky_map_event(root, ev, eb);
    if ((has(root, "event") && has(root, "stream")) ||
        (has(root, "type") && has(root, "account")) ||
        (has(root, "content") && has(root, "account")))
        return sb_mastodon_map_event(root, ev, eb);
    sb_event_reset(ev);
    if (has(root, "platform")) {
        if ((e = sb_post_from_json(root, &ev->post, eb)))
            return e;
        ev->type = SB_EVENT_POST;
        return SB_OK;
    }
    return sb_errf(eb, SB_ERR_SCHEMA,
                   "unrecognized event shape: expected a Jetstream event, a Mastodon "
                   "event/Notification/Status, or a normalized post with \"platform\"");
}
