/* source.c — reads a policy directory into memory once: every .lua file and every word list
 * (the .txt files under words/), sorted by path, hashed into the policy version. Calls never touch
 * the disk. Bounded: 1000 files, 8 MiB in all, 8 levels deep; symlinks and dot-files are skipped so
 * `require` can never reach outside the directory. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "policy/internal.h"

#define SRC_FILES_MAX 1000
#define SRC_BYTES_MAX (8u << 20)
#define SRC_DEPTH_MAX 8

static int wanted(const char *rel)
{
    size_t n = strlen(rel);
    if (n > 4 && !strcmp(rel + n - 4, ".lua"))
        return 1;
    if (!strncmp(rel, "words/", 6) && n > 4 && !strcmp(rel + n - 4, ".txt"))
        return 1;
    return 0;
}

static enum sb_err add_file(struct sb_src *src, const char *full, const char *rel, size_t *total,
                            struct sb_errbuf *eb)
{
    if (src->n >= SRC_FILES_MAX)
        return sb_errf(eb, SB_ERR_TOOBIG, "policy directory has more than %d files", SRC_FILES_MAX);
    FILE *f = fopen(full, "rb");
    if (!f)
        return sb_errf(eb, SB_ERR_IO, "%s: %s", full, strerror(errno));
    struct sb_buf b;
    sb_buf_init(&b, SRC_BYTES_MAX - *total);
    char chunk[16384];
    size_t k;
    enum sb_err e = SB_OK;
    while (!e && (k = fread(chunk, 1, sizeof chunk, f)) > 0)
        e = sb_buf_append(&b, chunk, k);
    int rerr = ferror(f);
    fclose(f);
    if (e || rerr) {
        sb_buf_free(&b);
        return e == SB_ERR_TOOBIG
                   ? sb_errf(eb, e, "policy directory is larger than %u bytes", SRC_BYTES_MAX)
                   : sb_errf(eb, e ? e : SB_ERR_IO, "%s: read error", full);
    }
    struct sb_src_file *nf = realloc(src->files, (src->n + 1) * sizeof *nf);
    if (!nf) {
        sb_buf_free(&b);
        return sb_errf(eb, SB_ERR_NOMEM, "out of memory");
    }
    src->files = nf;
    nf[src->n].path = strdup(rel);
    nf[src->n].data = b.data ? b.data : calloc(1, 1);
    nf[src->n].len = b.len;
    src->n++;
    *total += b.len;
    return SB_OK;
}

static enum sb_err walk(struct sb_src *src, const char *root, const char *rel, int depth,
                        size_t *total, struct sb_errbuf *eb)
{
    if (depth > SRC_DEPTH_MAX)
        return SB_OK;
    char dirpath[4096];
    snprintf(dirpath, sizeof dirpath, "%s%s%s", root, *rel ? "/" : "", rel);
    DIR *d = opendir(dirpath);
    if (!d)
        return sb_errf(eb, SB_ERR_IO, "%s: %s", dirpath, strerror(errno));
    enum sb_err e = SB_OK;
    struct dirent *de;
    while (!e && (de = readdir(d))) {
        if (de->d_name[0] == '.')
            continue;
        char r[2048], full[4096];
        snprintf(r, sizeof r, "%s%s%s", rel, *rel ? "/" : "", de->d_name);
        snprintf(full, sizeof full, "%s/%s", root, r);
        struct stat st;
        if (lstat(full, &st) != 0 || S_ISLNK(st.st_mode))
            continue;
        if (S_ISDIR(st.st_mode) && strcmp(de->d_name, "node_modules") != 0)
            e = walk(src, root, r, depth + 1, total, eb);
        else if (S_ISREG(st.st_mode) && wanted(r))
            e = add_file(src, full, r, total, eb);
    }
    closedir(d);
    return e;
}

static int by_path(const void *a, const void *b)
{
    return strcmp(((const struct sb_src_file *)a)->path, ((const struct sb_src_file *)b)->path);
}

enum sb_err sb_src_read(const char *dir, struct sb_src *src, struct sb_errbuf *eb)
{
    memset(src, 0, sizeof *src);
    size_t total = 0;
    struct stat st;
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
        return sb_errf(eb, SB_ERR_IO, "%s: not a policy directory", dir);
    enum sb_err e = walk(src, dir, "", 0, &total, eb);
    if (e)
        goto fail;
    if (src->n > 1)
        qsort(src->files, src->n, sizeof *src->files, by_path);
    if (!sb_src_find(src, "main.lua")) {
        e = sb_errf(eb, SB_ERR_POLICY, "%s/main.lua: not found (a policy directory needs one)",
                    dir);
        goto fail;
    }
    /* version: FNV-1a 64 over (path, NUL, length, content) of every file, in path order */
    uint64_t h = 1469598103934665603ull;
    struct sb_buf js;
    sb_buf_init(&js, 1u << 20);
    sb_buf_putc(&js, '[');
    for (size_t i = 0; i < src->n; i++) {
        const struct sb_src_file *f = &src->files[i];
        const unsigned char *parts[2] = {(const unsigned char *)f->path,
                                         (const unsigned char *)f->data};
        size_t lens[2] = {strlen(f->path) + 1, f->len};
        for (int k = 0; k < 2; k++)
            for (size_t j = 0; j < lens[k]; j++) {
                h ^= parts[k][j];
                h *= 1099511628211ull;
            }
        if (i)
            sb_buf_putc(&js, ',');
        sb_buf_json_str(&js, f->path, strlen(f->path));
    }
    sb_buf_putc(&js, ']');
    snprintf(src->version, sizeof src->version, "%016llx", (unsigned long long)h);
    src->files_json = js.data;
    return SB_OK;
fail:
    sb_src_free(src);
    return e;
}

void sb_src_free(struct sb_src *src)
{
    for (size_t i = 0; i < src->n; i++) {
        free(src->files[i].path);
        free(src->files[i].data);
    }
    free(src->files);
    free(src->files_json);
    memset(src, 0, sizeof *src);
}

const struct sb_src_file *sb_src_find(const struct sb_src *src, const char *path)
{
    size_t lo = 0, hi = src->n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int c = strcmp(src->files[mid].path, path);
        if (c == 0)
            return &src->files[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}
