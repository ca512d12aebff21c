/* store_helpers.h — what the store tests share: numbered database files in a temporary
 * directory, removed at the end, and raw SQLite access independent of the store. */
#ifndef SB_TEST_STORE_HELPERS_H
#define SB_TEST_STORE_HELPERS_H

#include <sqlite3.h>
#include <stdio.h>
#include <unistd.h>

static char tmpdir[256];
static int db_seq;

/* A new database path inside tmpdir (files removed by remove_dbs). */
static const char *new_db(char *buf, size_t n)
{
    snprintf(buf, n, "%s/t%d.db", tmpdir, ++db_seq);
    return buf;
}

static void remove_dbs(void)
{
    char p[320];
    static const char *const sfx[] = {"", "-wal", "-shm", "-journal"};
    for (int i = 1; i <= db_seq; i++)
        for (int k = 0; k < 4; k++) {
            snprintf(p, sizeof p, "%s/t%d.db%s", tmpdir, i, sfx[k]);
            unlink(p);
        }
    rmdir(tmpdir);
}

/* Raw access to a database file, independent of the store (create: may make the file). */
static sqlite3 *raw_open_flags(const char *path, int create)
{
    sqlite3 *db = NULL;
    int flags = SQLITE_OPEN_READWRITE | (create ? SQLITE_OPEN_CREATE : 0);
    if (sqlite3_open_v2(path, &db, flags, NULL) != SQLITE_OK) {
        fprintf(stderr, "raw open %s: %s\n", path, db ? sqlite3_errmsg(db) : "?");
        sqlite3_close(db);
        return NULL;
    }
    return db;
}

/* First column of the first row, or -999. */
static long long raw_int(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *st = NULL;
    long long v = -999;
    if (db && sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
}

#endif
