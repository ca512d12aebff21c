/* fixtures.h — reading the platforms' real payloads from ../shared/fixtures in unit tests. */
#ifndef SB_TEST_FIXTURES_H
#define SB_TEST_FIXTURES_H

#include <jansson.h>
#include <stdio.h>

#include "t.h"

/* Parse SB_FIXTURES/<dir>/<rel> (new reference; NULL with a message if unreadable). */
static inline json_t *t_fixture(const char *dir, const char *rel)
{
    char path[512];
    json_error_t jerr;
    snprintf(path, sizeof path, "%s/%s/%s", SB_FIXTURES, dir, rel);
    json_t *j = json_load_file(path, 0, &jerr);
    if (!j)
        fprintf(stderr, "cannot load %s: %s\n", path, jerr.text);
    return j;
}

#endif
