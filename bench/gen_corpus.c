/* gen_corpus.c — writes a Jetstream v1-shaped JSONL corpus for the replay benchmark:
 * N app.bsky.feed.post creates addressed to a brand (a mention facet with correct UTF-8 byte
 * offsets, some replies, links and tags), interleaved with the likes/reposts/identity events a
 * real stream carries (skipped by the mapper). Deterministic for a given N and seed.
 * usage: gen_corpus N [SEED] > corpus.jsonl */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *bodies[] = {
    "my order still hasn't arrived and nobody answers the phone. Really annoyed.",
    "love the new headphones, best purchase this year!",
    "does the X200 charger work with the older model?",
    "I was charged twice for my order, can you check my account?",
    "if this isn't fixed I'm calling my lawyer",
    "the battery in my phone is swelling and it smells like smoke",
    "just saw your ad on the subway",
    "worst customer service ever, three weeks waiting for a refund",
    "thanks for the quick fix yesterday, great support team",
    "where can I find the manual for the kettle? \xc2\xbf"
    "alguien sabe?",
    "mi pedido lleg\xc3\xb3"
    " roto y nadie responde \xf0\x9f\x98\xa1",
    "the app keeps crashing when I open my basket \xe2\x9c\xa8 please help",
};
#define NB (sizeof bodies / sizeof *bodies)

static unsigned long long rng = 88172645463325252ull;
static unsigned long long next(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static void rkey(char *out)
{
    static const char al[] = "234567abcdefghijklmnopqrstuvwxyz";
    for (int i = 0; i < 13; i++)
        out[i] = al[next() % 32];
    out[13] = 0;
}

int main(int argc, char **argv)
{
    long n = argc > 1 ? atol(argv[1]) : 200000;
    if (argc > 2)
        rng ^= strtoull(argv[2], NULL, 10);
    const char *brand = "did:plc:acmebrand0000000000000";
    const char *handle = "@acme.example.com";
    long long t = 1795000000000000LL;
    char rk[14], rk2[14], did[40];
    for (long i = 0; i < n; i++) {
        t += 1000 + (long long)(next() % 4000);
        snprintf(did, sizeof did, "did:plc:user%019llu", next() % 5000000);
        /* a real stream is mostly likes; keep one non-post event every 4 posts */
        if (i % 4 == 3) {
            rkey(rk);
            rkey(rk2);
            printf(
                "{\"did\":\"%s\",\"time_us\":%lld,\"kind\":\"commit\",\"commit\":{\"rev\":\"%s\","
                "\"operation\":\"create\",\"collection\":\"app.bsky.feed.like\",\"rkey\":\"%s\","
                "\"record\":{\"$type\":\"app.bsky.feed.like\",\"createdAt\":"
                "\"2026-11-20T10:00:00.000Z\",\"subject\":{\"cid\":\"bafyreib%s\",\"uri\":"
                "\"at://%s/app.bsky.feed.post/%s\"}},\"cid\":\"bafyreia%s\"}}\n",
                did, t, rk, rk2, rk, brand, rk2, rk2);
            continue;
        }
        const char *body = bodies[next() % NB];
        char text[512];
        int hl = (int)strlen(handle);
        snprintf(text, sizeof text, "%s %s", handle, body);
        int with_link = next() % 5 == 0, reply = next() % 3 == 0;
        char extra[256] = "";
        int link_start = 0, link_end = 0;
        if (with_link) {
            link_start = (int)strlen(text) + 1;
            strcat(text, " https://shop.example.com/o/12345");
            link_end = (int)strlen(text);
        }
        rkey(rk);
        rkey(rk2);
        printf("{\"did\":\"%s\",\"time_us\":%lld,\"kind\":\"commit\",\"commit\":{\"rev\":\"%s\","
               "\"operation\":\"create\",\"collection\":\"app.bsky.feed.post\",\"rkey\":\"%s\","
               "\"record\":{\"$type\":\"app.bsky.feed.post\",\"createdAt\":"
               "\"2026-11-20T10:%02ld:%02ld.000Z\",\"facets\":[{\"features\":[{\"$type\":"
               "\"app.bsky.richtext.facet#mention\",\"did\":\"%s\"}],\"index\":{\"byteEnd\":%d,"
               "\"byteStart\":0}}",
               did, t, rk, rk, (i / 60) % 60, i % 60, brand, hl);
        if (with_link)
            printf(",{\"features\":[{\"$type\":\"app.bsky.richtext.facet#link\",\"uri\":"
                   "\"https://shop.example.com/o/12345\"}],\"index\":{\"byteEnd\":%d,"
                   "\"byteStart\":%d}}",
                   link_end, link_start);
        printf("],\"langs\":[\"en\"],");
        if (reply)
            snprintf(extra, sizeof extra,
                     "\"reply\":{\"parent\":{\"cid\":\"bafyreip%s\",\"uri\":\"at://%s/"
                     "app.bsky.feed.post/%s\"},\"root\":{\"cid\":\"bafyreip%s\",\"uri\":"
                     "\"at://%s/app.bsky.feed.post/%s\"}},",
                     rk2, brand, rk2, rk2, brand, rk2);
        printf("%s\"text\":\"", extra);
        for (const char *p = text; *p; p++) {
            if (*p == '"' || *p == '\\')
                putchar('\\');
            putchar(*p);
        }
        printf("\"},\"cid\":\"bafyreic%s%s\"}}\n", rk, rk2);
    }
    return 0;
}
