/*
 * test_out_file.c: --output-file names: template expansion, chunk names, the last chunk on
 * disk.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "dp_test.h"

#include "core/err.h"
#include "core/flags.h"
#include "core/plugin.h"
#include "outputs/out_file.h"

/* 2021-01-26 06:22:11.487022 UTC */
#define WALL 1611642131487022000

/* ---- out_file_expand ---- */

struct expand_case {
    const char *tpl;
    int64_t wall_ns;
    char type;
    const char *id;
    size_t id_len;
    const char *want;
};

#define EXP(tpl, wall, type, id, want)                                                             \
    {                                                                                              \
        tpl, wall, type, id, sizeof(id) - 1, want                                                  \
    }

static const struct expand_case expand_cases[] = {
    /* no codes */
    EXP("", WALL, '1', "id", ""),
    EXP("/var/log/rec.gor", WALL, '1', "id", "/var/log/rec.gor"),
    /* each time code (local time; TZ=UTC here) */
    EXP("%Y", WALL, '1', "id", "2021"),
    EXP("%m", WALL, '1', "id", "01"),
    EXP("%d", WALL, '1', "id", "26"),
    EXP("%H", WALL, '1', "id", "06"),
    EXP("%M", WALL, '1', "id", "22"),
    EXP("%S", WALL, '1', "id", "11"),
    EXP("rec-%Y-%m-%d-%H-%M-%S.gor", WALL, '1', "id", "rec-2021-01-26-06-22-11.gor"),
    EXP("%Y%m%d%H%M%S", WALL, '1', "id", "20210126062211"),
    EXP("%Y-%m-%d %H:%M:%S", 0, '1', "id", "1970-01-01 00:00:00"),
    EXP("%Y%m%d%H%M%S", 1735689599999999999, '1', "id", "20241231235959"),
    /* nanoseconds, not padded */
    EXP("%NS", WALL, '1', "id", "487022000"),
    EXP("a%NSb", 5, '1', "id", "a5b"),
    EXP("%NS", 1000000000, '1', "id", "0"),
    EXP("%NS", 1999999999, '1', "id", "999999999"),
    /* message type and id */
    EXP("%t", WALL, '1', "id", "1"),
    EXP("req-%t.gor", WALL, '2', "id", "req-2.gor"),
    EXP("%r", WALL, '1', "8f3a0e2", "8f3a0e2"),
    EXP("%r.gor", WALL, '1', "0123456789abcdef0123456789abcdef01234567",
            "0123456789abcdef0123456789abcdef01234567.gor"),
    EXP("%r", WALL, '1', "AZaz09-_", "AZaz09-_"),
    EXP("%r", WALL, '1', "", ""),
    /* hostile ids cannot leave the directory */
    EXP("out/%r.gor", WALL, '1', "../../etc/passwd", "out/______etc_passwd.gor"),
    EXP("out/%r.gor", WALL, '1', "/abs", "out/_abs.gor"),
    EXP("out/%r.gor", WALL, '1', "..", "out/__.gor"),
    EXP("%r", WALL, '1', "a\0b\xff\n\r \t%.~", "a_b________"),
    EXP("%r", WALL, '1', "\xc3\xa9t\xc3\xa9", "__t__"),
    /* everything at once, codes next to each other */
    EXP("/d/%Y/%t-%r-%NS-%S%M", WALL, '3', "x/y", "/d/2021/3-x_y-487022000-1122"),
    EXP("%r%r%t%t", WALL, '2', "ab", "abab22"),
    /* not codes: kept as written */
    EXP("100%", WALL, '1', "id", "100%"),
    EXP("%", WALL, '1', "id", "%"),
    EXP("%x%q%%", WALL, '1', "id", "%x%q%%"),
    EXP("%N", WALL, '1', "id", "%N"),
    EXP("%Nx", WALL, '1', "id", "%Nx"),
    EXP("%%Y", WALL, '1', "id", "%2021"),
    EXP("%y%D%s", WALL, '1', "id", "%y%D%s"),
};

/* A writable buffer of exactly <cap> bytes that ends on a guard page. */
static void guarded_out(struct dp_guarded *g, size_t cap)
{
    char *fill = malloc(cap);

    assert_non_null(fill);
    memset(fill, '#', cap);
    dp_guarded_init(g, fill, cap);
    free(fill);
}

/* Expands into a buffer of exactly <cap> bytes that ends on a guard page. */
static int expand_guarded(const struct expand_case *c, size_t cap, char *copy)
{
    struct dp_guarded g;
    int n;

    guarded_out(&g, cap);
    n = out_file_expand(c->tpl, c->wall_ns, c->type, (const uint8_t *)c->id, c->id_len,
            (char *)g.ptr, cap);
    if (n >= 0) {
        assert_true((size_t)n < cap);
        assert_int_equal(g.ptr[n], '\0');
        memcpy(copy, g.ptr, (size_t)n + 1);
    }
    dp_guarded_free(&g);
    return n;
}

static void test_out_file_expand(void **state)
{
    char out[PATH_MAX];

    (void)state;
    for (size_t i = 0; i < DP_ARRAY_LEN(expand_cases); i++) {
        const struct expand_case *c = &expand_cases[i];
        size_t want_len = strlen(c->want);
        int n;

        n = out_file_expand(c->tpl, c->wall_ns, c->type, (const uint8_t *)c->id, c->id_len, out,
                sizeof(out));
        if (n < 0 || (size_t)n != want_len || strcmp(out, c->want) != 0)
            fail_msg("expand case %zu (%s): %d \"%s\", want \"%s\"", i, c->tpl, n,
                    n >= 0 ? out : "", c->want);

        /* The exact room (the name and its NUL) is enough; one byte less is too little. */
        n = expand_guarded(c, want_len + 1, out);
        assert_int_equal(n, (int)want_len);
        assert_string_equal(out, c->want);
        for (size_t cap = 1; cap <= want_len; cap++) {
            n = expand_guarded(c, cap, out);
            if (n != -ENAMETOOLONG)
                fail_msg("expand case %zu (%s) cap %zu: %d, want -ENAMETOOLONG", i, c->tpl, cap,
                        n);
        }
    }
}

/* Ids longer than PATH_MAX, made of hostile bytes. */
static void test_out_file_expand_long_id(void **state)
{
    static uint8_t id[3 * PATH_MAX];
    char out[PATH_MAX];
    int n;

    (void)state;
    for (size_t i = 0; i < sizeof(id); i++)
        id[i] = (uint8_t)(i % 3 == 0 ? '/' : i % 3 == 1 ? '.' : 'a');
    n = out_file_expand("d/%r", WALL, '1', id, PATH_MAX - 3, out, sizeof(out));
    assert_int_equal(n, PATH_MAX - 1);
    assert_null(strchr(out + 2, '/'));
    assert_null(strchr(out, '.'));
    assert_int_equal(out[n], '\0');
    n = out_file_expand("d/%r", WALL, '1', id, PATH_MAX - 2, out, sizeof(out));
    assert_int_equal(n, -ENAMETOOLONG);
    n = out_file_expand("d/%r", WALL, '1', id, sizeof(id), out, sizeof(out));
    assert_int_equal(n, -ENAMETOOLONG);
}

/* %i: 8 random letters, the same for the whole process, set up when an output-file opens. */
static void test_out_file_expand_instance(void **state)
{
    char dir[] = "/tmp/doppel-test-out-file-XXXXXX";
    char addr[PATH_MAX];
    char a[64], b[64];
    struct dp_plugin pl;
    struct dp_config cfg;
    struct dp_err err;

    (void)state;
    assert_non_null(mkdtemp(dir));
    snprintf(addr, sizeof(addr), "%s/rec-%%i.gor", dir);
    memset(&pl, 0, sizeof(pl));
    memset(&cfg, 0, sizeof(cfg));
    memset(&err, 0, sizeof(err));
    pl.out = &out_file_ops;
    pl.addr = addr;
    assert_int_equal(out_file_ops.open(&pl, &cfg, &err), 0);
    out_file_ops.free(&pl);

    assert_int_equal(out_file_expand("%i", WALL, '1', (const uint8_t *)"x", 1, a, sizeof(a)), 8);
    for (size_t i = 0; i < 8; i++) {
        if (!((a[i] >= 'a' && a[i] <= 'z') || (a[i] >= 'A' && a[i] <= 'Z')))
            fail_msg("%%i byte %zu: 0x%02x is not a letter", i, (unsigned char)a[i]);
    }
    assert_int_equal(out_file_expand("r-%i-%t.gor", WALL + 7000000000, '2', (const uint8_t *)"y",
                             1, b, sizeof(b)),
            16);
    assert_memory_equal(b, "r-", 2);
    assert_memory_equal(b + 2, a, 8);
    assert_string_equal(b + 10, "-2.gor");
    assert_int_equal(rmdir(dir), 0); /* open() created no file */
}

/* ---- out_file_chunk_name ---- */

static const struct {
    const char *name;
    unsigned idx;
    const char *want;
} chunk_cases[] = {
    { "rec.gor", 3, "rec_3.gor" },
    { "rec.gor", 0, "rec_0.gor" },
    { "rec.gor", 4294967295u, "rec_4294967295.gor" },
    { "rec.gor.gz", 3, "rec.gor_3.gz" },
    { "rec", 3, "rec_3" },
    { "rec_05.gor", 7, "rec_05_7.gor" },
    { "rec_5", 6, "rec_5_6" },
    { "./a.b/rec", 2, "./a.b/rec_2" },
    { "./a.b/rec.gor", 2, "./a.b/rec_2.gor" },
    { "/var/x.y.z/rec", 1, "/var/x.y.z/rec_1" },
    { "/var/log/rec.gor", 12, "/var/log/rec_12.gor" },
    { ".hidden", 1, ".hidden_1" },
    { "dir/.gor", 1, "dir/.gor_1" },
    { "rec.", 1, "rec_1." },
    { "a..b", 1, "a._1.b" },
    { "", 1, "_1" },
};

static void test_out_file_chunk_name(void **state)
{
    (void)state;
    for (size_t i = 0; i < DP_ARRAY_LEN(chunk_cases); i++) {
        size_t want_len = strlen(chunk_cases[i].want);
        char out[PATH_MAX];
        int n;

        n = out_file_chunk_name(chunk_cases[i].name, chunk_cases[i].idx, out, sizeof(out));
        if (n != (int)want_len || strcmp(out, chunk_cases[i].want) != 0)
            fail_msg("chunk case %zu (%s, %u): %d \"%s\", want \"%s\"", i, chunk_cases[i].name,
                    chunk_cases[i].idx, n, n >= 0 ? out : "", chunk_cases[i].want);
        /* Exact room, then one byte and all bytes too few, into buffers that end on a guard
         * page. */
        {
            const size_t caps[] = { want_len + 1, want_len, want_len / 2, 1 };

            for (size_t k = 0; k < DP_ARRAY_LEN(caps); k++) {
                struct dp_guarded g;

                if (caps[k] == 0)
                    continue;
                guarded_out(&g, caps[k]);
                n = out_file_chunk_name(chunk_cases[i].name, chunk_cases[i].idx, (char *)g.ptr,
                        caps[k]);
                if (k == 0) {
                    assert_int_equal(n, (int)want_len);
                    assert_string_equal((char *)g.ptr, chunk_cases[i].want);
                } else {
                    assert_int_equal(n, -ENAMETOOLONG);
                }
                dp_guarded_free(&g);
            }
        }
    }
}

/* ---- out_file_last_chunk ---- */

static char tmpdir[64];

static void touch(const char *rel)
{
    char path[PATH_MAX];
    int fd;

    snprintf(path, sizeof(path), "%s/%s", tmpdir, rel);
    fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0)
        fail_msg("create %s: %s", path, strerror(errno));
    close(fd);
}

static void mkdir_rel(const char *rel)
{
    char path[PATH_MAX];

    snprintf(path, sizeof(path), "%s/%s", tmpdir, rel);
    assert_int_equal(mkdir(path, 0700), 0);
}

static long last_chunk(const char *rel)
{
    char name[PATH_MAX];

    snprintf(name, sizeof(name), "%s/%s", tmpdir, rel);
    return out_file_last_chunk(name);
}

static int rm_tree(const char *path)
{
    char cmd[PATH_MAX + 16];

    /* The directory is ours (mkdtemp), and its name has no shell metacharacters. */
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", path);
    return system(cmd);
}

static int setup_tmpdir(void **state)
{
    (void)state;
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/doppel-test-out-file-XXXXXX");
    return mkdtemp(tmpdir) != NULL ? 0 : -1;
}

static int teardown_tmpdir(void **state)
{
    (void)state;
    return rm_tree(tmpdir) == 0 ? 0 : -1;
}

static void test_out_file_last_chunk(void **state)
{
    static const char *const unrelated[] = {
        "rec.gor",           /* the plain name */
        "rec_.gor",          /* no digits */
        "rec_x.gor",         /* not digits */
        "rec_1a.gor",        /* digits and more */
        "rec_5_6.gor",       /* two indexes */
        "rec_-40.gor",       /* a sign */
        "rec_ 50.gor",       /* a space */
        "rec_99.gor.bak",    /* another extension after it */
        "rec_98.gz",         /* another extension */
        "rec_97",            /* no extension */
        "other_50.gor",      /* another stem */
        "arec_30.gor",       /* a longer stem */
        "rec.gor_60",        /* the index after the extension */
        "rec_1234567890.gor", /* more than 9 digits */
    };

    (void)state;
    assert_int_equal(last_chunk("rec.gor"), -1);
    for (size_t i = 0; i < DP_ARRAY_LEN(unrelated); i++)
        touch(unrelated[i]);
    mkdir_rel("sub");
    touch("sub/rec_77.gor"); /* another directory */
    assert_int_equal(last_chunk("rec.gor"), -1);

    touch("rec_0.gor");
    assert_int_equal(last_chunk("rec.gor"), 0);
    touch("rec_2.gor");
    touch("rec_10.gor");
    assert_int_equal(last_chunk("rec.gor"), 10);
    touch("rec_009.gor"); /* leading zeros: 9 */
    assert_int_equal(last_chunk("rec.gor"), 10);
    touch("rec_011.gor");
    assert_int_equal(last_chunk("rec.gor"), 11);
    touch("rec_123456789.gor"); /* nine digits is the most */
    assert_int_equal(last_chunk("rec.gor"), 123456789);
    assert_int_equal(last_chunk("sub/rec.gor"), 77);
    assert_int_equal(last_chunk("nothing.gor"), -1);
    assert_int_equal(last_chunk("missing-dir/rec.gor"), -1);
}

static void test_out_file_last_chunk_gz(void **state)
{
    (void)state;
    assert_int_equal(last_chunk("rec.gor.gz"), -1);
    touch("rec.gor_4.gz");
    touch("rec.gor_2.gz");
    touch("rec_9.gor.gz"); /* not how a .gor.gz name is chunked */
    touch("rec.gor_8.gor");
    assert_int_equal(last_chunk("rec.gor.gz"), 4);
}

/* Names without an extension, and dots in directories. */
static void test_out_file_last_chunk_no_ext(void **state)
{
    (void)state;
    mkdir_rel("a.b");
    assert_int_equal(last_chunk("a.b/rec"), -1);
    touch("a.b/rec_3");
    touch("a.b/rec_5.gor"); /* an extension the name does not have */
    touch("a.b/rec_x");
    touch("a.b/rec");
    assert_int_equal(last_chunk("a.b/rec"), 3);
    touch("a.b/rec_12");
    assert_int_equal(last_chunk("a.b/rec"), 12);
    /* The chunk name of a name and the last chunk agree. */
    {
        char name[PATH_MAX], chunk[PATH_MAX];
        char *base;

        snprintf(name, sizeof(name), "%s/a.b/rec", tmpdir);
        assert_true(out_file_chunk_name(name, 13, chunk, sizeof(chunk)) > 0);
        base = strrchr(chunk, '/');
        assert_non_null(base);
        assert_string_equal(base, "/rec_13");
        touch("a.b/rec_13");
        assert_int_equal(out_file_last_chunk(name), 13);
    }
}

/* Glob metacharacters in the name are matched literally. */
static void test_out_file_last_chunk_metachars(void **state)
{
    (void)state;
    touch("r[1]*?_6.gor");
    touch("r1x_9.gor");  /* what the unescaped pattern r[1]*?_*.gor would also match */
    touch("r1ab_8.gor"); /* idem */
    assert_int_equal(last_chunk("r[1]*?.gor"), 6);
    mkdir_rel("d[x]");
    touch("d[x]/rec_4.gor");
    mkdir_rel("dx");
    touch("dx/rec_5.gor");
    assert_int_equal(last_chunk("d[x]/rec.gor"), 4);
    touch("back\\slash_2.gor");
    assert_int_equal(last_chunk("back\\slash.gor"), 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_out_file_expand),
        cmocka_unit_test(test_out_file_expand_long_id),
        cmocka_unit_test(test_out_file_expand_instance),
        cmocka_unit_test(test_out_file_chunk_name),
        cmocka_unit_test_setup_teardown(test_out_file_last_chunk, setup_tmpdir, teardown_tmpdir),
        cmocka_unit_test_setup_teardown(test_out_file_last_chunk_gz, setup_tmpdir,
                teardown_tmpdir),
        cmocka_unit_test_setup_teardown(test_out_file_last_chunk_no_ext, setup_tmpdir,
                teardown_tmpdir),
        cmocka_unit_test_setup_teardown(test_out_file_last_chunk_metachars, setup_tmpdir,
                teardown_tmpdir),
    };

    /* %Y and the rest are local time. */
    setenv("TZ", "UTC", 1);
    tzset();
    return cmocka_run_group_tests(tests, NULL, NULL);
}
