/* ncpc_attr.c - owners and modes: names for ids (NAMES) and the SETATTR
 * commands chmod, chown, chgrp, touch. */
#include "client/ncpc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Answers seen so far (ls asks once per distinct id). */
#define NAME_CACHE 128
static struct { uint8_t kind; uint32_t id; char name[NCP_USER_MAX + 1]; } cache[NAME_CACHE];
static unsigned ncached;

/* One NAMES question: by id (name NULL) or by name.  Fills *id and name (""
 * when unknown); 0, or the completion code. */
static int ask(struct ncpc *c, uint8_t kind, uint32_t *id, const char *byname, char name[NCP_USER_MAX + 1])
{
    size_t len = byname ? strlen(byname) : 0;
    if (len > NCP_USER_MAX) { *id = NCP_ID_NONE; name[0] = '\0'; return 0; }
    struct ncp_name q = { kind, *id, (uint8_t)len, byname };
    struct ncp_request rq = ncpc_req(NCP_FN_NAMES);
    struct ncpc_reply r;
    rq.u.names.count = 1;
    rq.u.names.ids = &q;
    name[0] = '\0';
    int e = ncpc_call(c, &rq, &r);
    size_t pos = 0;
    struct ncp_name a;
    if (e == 0 && ncp_names_next(r.rp.u.names.raw, &pos, &a) && a.kind == kind) {
        memcpy(name, a.name, a.len);
        name[a.len] = '\0';
        *id = a.id;
    }
    ncpc_reply_free(&r);
    return e;
}

const char *id_name(struct ncpc *c, uint8_t kind, uint32_t id, char buf[16])
{
    unsigned i = 0;
    while (i < ncached && !(cache[i].kind == kind && cache[i].id == id))
        i++;
    if (i == ncached) {
        uint32_t got = id;
        char name[NCP_USER_MAX + 1];
        if (ask(c, kind, &got, NULL, name) != 0 || got != id)
            name[0] = '\0';
        if (ncached < NAME_CACHE)
            ncached++;
        else
            i = NAME_CACHE - 1;                    /* full: reuse the last slot */
        cache[i].kind = kind;
        cache[i].id = id;
        memcpy(cache[i].name, name, sizeof name);
    }
    if (cache[i].name[0])
        return cache[i].name;
    snprintf(buf, 16, "%u", id);
    return buf;
}

/* An id given as a number or as a name the server knows. */
static int parse_id(struct ncpc *c, uint8_t kind, const char *s, uint32_t *out)
{
    char *end, name[NCP_USER_MAX + 1];
    unsigned long v = strtoul(s, &end, 10);
    if (*s && !*end && v < NCP_ID_NONE) {
        *out = (uint32_t)v;
        return 0;
    }
    *out = 0;
    if (ask(c, kind, out, s, name) != 0 || *out == NCP_ID_NONE)
        return -1;
    return 0;
}

static int setattr(struct ncpc *c, const char *path, uint32_t mask, uint16_t mode, uint32_t uid, uint32_t gid,
                   uint32_t atime, uint32_t mtime, const char *what)
{
    struct ncp_request rq = ncpc_req(NCP_FN_SETATTR);
    rq.u.setattr.mask = mask;
    rq.u.setattr.handle = NCP_HANDLE_NONE;
    rq.u.setattr.path = ncpc_str(path);
    rq.u.setattr.mode = mode;
    rq.u.setattr.uid = uid;
    rq.u.setattr.gid = gid;
    rq.u.setattr.atime = atime;
    rq.u.setattr.mtime = mtime;
    int e = ncpc_simple(c, &rq);
    return e ? report(c, e, what, path) : 0;
}

int cmd_chmod(struct ncpc *c, int argc, char **argv)
{
    char *end;
    if (argc < 2) return 2;
    unsigned long mode = strtoul(argv[0], &end, 8);
    if (*end || !*argv[0] || mode > 07777) {
        fprintf(stderr, "ncpc: chmod: mode must be octal 0..7777, not '%s'\n", argv[0]);
        return 2;
    }
    int rc = 0;
    for (int i = 1; i < argc; i++)
        rc |= setattr(c, argv[i], NCP_SA_MODE, (uint16_t)mode, 0, 0, 0, 0, "chmod");
    return rc;
}

/* chown USER[:GROUP] PATH...   chgrp GROUP PATH...  (names or numbers) */
int cmd_chown(struct ncpc *c, int argc, char **argv, bool group_only)
{
    if (argc < 2) return 2;
    char spec[128];
    snprintf(spec, sizeof spec, "%s", argv[0]);
    char *colon = group_only ? NULL : strchr(spec, ':');
    const char *user = group_only ? NULL : spec, *group = group_only ? spec : NULL;
    if (colon) { *colon = '\0'; group = colon + 1; }
    uint32_t mask = 0, uid = 0, gid = 0;
    if (user && *user) {
        if (parse_id(c, NCP_NAME_USER, user, &uid)) {
            fprintf(stderr, "ncpc: unknown user '%s'\n", user);
            return 1;
        }
        mask |= NCP_SA_UID;
    }
    if (group && *group) {
        if (parse_id(c, NCP_NAME_GROUP, group, &gid)) {
            fprintf(stderr, "ncpc: unknown group '%s'\n", group);
            return 1;
        }
        mask |= NCP_SA_GID;
    }
    if (!mask) return 2;
    int rc = 0;
    for (int i = 1; i < argc; i++)
        rc |= setattr(c, argv[i], mask, 0, uid, gid, 0, 0, group_only ? "chgrp" : "chown");
    return rc;
}

/* touch [-t UNIXTIME] PATH...: creates missing files; sets both times to now
 * (or to UNIXTIME, which only the owner may). */
int cmd_touch(struct ncpc *c, int argc, char **argv)
{
    uint32_t mask = NCP_SA_ATIME_NOW | NCP_SA_MTIME_NOW, t = 0;
    if (argc >= 2 && !strcmp(argv[0], "-t")) {
        t = (uint32_t)strtoul(argv[1], NULL, 10);
        mask = NCP_SA_ATIME | NCP_SA_MTIME;
        argc -= 2;
        argv += 2;
    }
    if (argc < 1) return 2;
    int rc = 0;
    for (int i = 0; i < argc; i++) {
        struct ncp_request rq = ncpc_req(NCP_FN_OPEN);
        struct ncpc_reply r;
        rq.u.open.flags = NCP_O_WRITE | NCP_O_CREATE;
        rq.u.open.path = ncpc_str(argv[i]);
        int e = ncpc_call(c, &rq, &r);
        uint32_t h = r.rp.u.open.handle;
        ncpc_reply_free(&r);
        if (e == NCP_E_ACCES || e == NCP_E_ISDIR) {
            e = 0;                                 /* exists but not writable: times only */
        } else if (e == 0) {
            rq = ncpc_req(NCP_FN_CLOSE);
            rq.u.handle.handle = h;
            (void)ncpc_simple(c, &rq);
        }
        if (e) { rc |= report(c, e, "touch", argv[i]); continue; }
        rc |= setattr(c, argv[i], mask, 0, 0, 0, t, t, "touch");
    }
    return rc;
}
