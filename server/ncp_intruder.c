/* ncp_intruder.c - intruder detection (NetWare's): failed logins per user name.
 *
 * cfg.intruder_attempts failed LOGINs for one name within cfg.intruder_window_s
 * lock the name for cfg.intruder_lock_s.  Every name a LOGIN carries is tracked
 * the same way whether or not the users file knows it, so the lockout says nothing
 * about which accounts exist.  The table has cfg.intruder_names entries, allocated
 * once: a new name takes a free entry, else the unlocked entry whose last failure is
 * oldest, else (every entry locked: someone is spraying names) the locked entry
 * that would unlock first, counted in intruder.evicted_locked.  Lookups are linear
 * over the table; they run on the blocking path only (LOGIN, an admin's STATS).
 *
 * The table lock is a leaf: nothing else is taken while it is held. */
#include "server/ncp_server_internal.h"

struct intruder_entry {
    char     name[NCP_USER_MAX];
    uint8_t  len;               /* 0 = free */
    uint32_t failures;          /* in the window that started at window_start */
    uint64_t window_start;      /* ms */
    uint64_t last;              /* ms of the last failure (eviction order) */
    uint64_t locked_until;      /* ms; 0 = not locked */
};

struct ncp_intruder {
    struct fs_mutex lock;       /* everything below */
    uint32_t n;
    uint64_t evicted_locked;
    struct intruder_entry e[];
};

static uint64_t now_ms(struct ncp_server *s)
{
    if (s->cfg.now_ms)
        return s->cfg.now_ms(s->cfg.arg);
    return (uint64_t)fs_time_now() * 1000u;
}

bool ncp_intruder_init(struct ncp_server *s)
{
    size_t size = sizeof(struct ncp_intruder) + sizeof(struct intruder_entry) * s->cfg.intruder_names;
    struct ncp_intruder *t = fs_alloc(size);
    if (!t)
        return false;
    memset(t, 0, size);
    fs_mutex_init(&t->lock);
    t->n = s->cfg.intruder_names;
    s->intruder = t;
    return true;
}

void ncp_intruder_destroy(struct ncp_server *s)
{
    fs_free(s->intruder);
    s->intruder = NULL;
}

static bool is_locked(const struct intruder_entry *e, uint64_t now)
{
    return e->locked_until != 0 && now < e->locked_until;
}

/* The entry for name (table lock held), or NULL.  An expired lockout ends here. */
static struct intruder_entry *find(struct ncp_intruder *t, const char *name, size_t len, uint64_t now)
{
    for (uint32_t i = 0; i < t->n; i++) {
        struct intruder_entry *e = &t->e[i];
        if (e->len != len || memcmp(e->name, name, len) != 0)
            continue;
        if (e->locked_until && !is_locked(e, now)) {
            e->locked_until = 0;                /* served its time: starts over */
            e->failures = 0;
        }
        return e;
    }
    return NULL;
}

/* A fresh entry for name, evicting as the top comment says (table lock held). */
static struct intruder_entry *take_entry(struct ncp_intruder *t, const char *name, size_t len, uint64_t now)
{
    struct intruder_entry *victim = NULL;
    for (uint32_t i = 0; i < t->n; i++) {
        struct intruder_entry *e = &t->e[i];
        if (e->len == 0) {
            victim = e;
            break;
        }
        if (!victim) {
            victim = e;
            continue;
        }
        bool e_locked = is_locked(e, now), v_locked = is_locked(victim, now);
        if (e_locked != v_locked) {
            if (v_locked)
                victim = e;                     /* an unlocked one goes first */
            continue;
        }
        if (e_locked ? e->locked_until < victim->locked_until : e->last < victim->last)
            victim = e;
    }
    if (victim->len && is_locked(victim, now))
        t->evicted_locked++;
    memset(victim, 0, sizeof *victim);
    memcpy(victim->name, name, len);
    victim->len = (uint8_t)len;
    victim->window_start = now;
    return victim;
}

bool ncp_intruder_locked(struct ncp_server *s, const char *user, size_t len)
{
    struct ncp_intruder *t = s->intruder;
    uint64_t now = now_ms(s);
    fs_mutex_lock(&t->lock);
    struct intruder_entry *e = find(t, user, len, now);
    bool locked = e && is_locked(e, now);
    fs_mutex_unlock(&t->lock);
    return locked;
}

void ncp_intruder_failed(struct ncp_server *s, const char *user, size_t len)
{
    struct ncp_intruder *t = s->intruder;
    uint64_t now = now_ms(s);
    uint64_t window = (uint64_t)s->cfg.intruder_window_s * 1000u;
    if (len == 0 || len > NCP_USER_MAX)
        return;
    fs_mutex_lock(&t->lock);
    struct intruder_entry *e = find(t, user, len, now);
    if (!e)
        e = take_entry(t, user, len, now);
    if (!is_locked(e, now)) {                   /* failures while locked do not extend it */
        if (now - e->window_start >= window) {
            e->window_start = now;              /* the window starts with its first failure */
            e->failures = 0;
        }
        e->failures++;
        e->last = now;
        if (e->failures >= s->cfg.intruder_attempts) {
            e->locked_until = now + (uint64_t)s->cfg.intruder_lock_s * 1000u;
            e->failures = 0;
            ctr_add(s, CTR_LOCKOUTS, 1);
        }
    }
    fs_mutex_unlock(&t->lock);
}

void ncp_intruder_succeeded(struct ncp_server *s, const char *user, size_t len)
{
    struct ncp_intruder *t = s->intruder;
    uint64_t now = now_ms(s);
    fs_mutex_lock(&t->lock);
    struct intruder_entry *e = find(t, user, len, now);
    if (e && !is_locked(e, now))
        memset(e, 0, sizeof *e);
    fs_mutex_unlock(&t->lock);
}

/* "PREFIX:NAME" into out (NCP_STAT_NAME_MAX + 1 bytes). */
static void entry_name(char *out, const char *prefix, const struct intruder_entry *e)
{
    size_t p = strlen(prefix);
    memcpy(out, prefix, p);
    memcpy(out + p, e->name, e->len);           /* printable, no ':' (the codec checks) */
    out[p + e->len] = '\0';
}

unsigned ncp_intruder_counters(struct ncp_server *s, struct ncp_counter *out, char (*names)[NCP_STAT_NAME_MAX + 1],
                               unsigned max)
{
    struct ncp_intruder *t = s->intruder;
    uint64_t now = now_ms(s);
    uint64_t window = (uint64_t)s->cfg.intruder_window_s * 1000u;
    unsigned n = 0, named = 0;
    uint64_t locked = 0, tracked = 0;
    if (max < 3)
        return 0;
    fs_mutex_lock(&t->lock);
    for (uint32_t i = 0; i < t->n; i++) {
        const struct intruder_entry *e = &t->e[i];
        if (!e->len)
            continue;
        tracked++;
        if (is_locked(e, now))
            locked++;
    }
    out[n++] = (struct ncp_counter){ "intruder.locked_accounts", locked };
    out[n++] = (struct ncp_counter){ "intruder.tracked_names", tracked };
    out[n++] = (struct ncp_counter){ "intruder.evicted_locked", t->evicted_locked };
    /* Locked names first (what an admin acts on), then names with recent failures. */
    for (int pass = 0; pass < 2; pass++) {
        for (uint32_t i = 0; i < t->n && n < max; i++) {
            const struct intruder_entry *e = &t->e[i];
            if (!e->len)
                continue;
            if (pass == 0 && is_locked(e, now)) {
                entry_name(names[named], "lockout:", e);
                out[n].name = names[named++];
                out[n++].value = (e->locked_until - now + 999u) / 1000u;   /* seconds left */
            } else if (pass == 1 && !is_locked(e, now) && e->failures && now - e->window_start < window) {
                entry_name(names[named], "failed_logins:", e);
                out[n].name = names[named++];
                out[n++].value = e->failures;
            }
        }
    }
    fs_mutex_unlock(&t->lock);
    return n;
}
