/* ext2_orphan.c - files unlinked while open, kept until their last close.
 *
 * The server counts opens per inode here (ext2_open_ino / ext2_close_ino).  When the last
 * name of an open file goes (unlink, or rename over it), the inode is not freed: its link
 * count becomes 0 and it joins the orphan list, as Linux ext3/ext4 keep it: the superblock's
 * s_last_orphan names the first orphan and each orphan's i_dtime the next (0 ends the list).
 * Reads and writes by inode number keep working; the last close takes the inode off the
 * list and frees it.  After a crash the list is still on disk: mounting read-write frees
 * every inode on it (ext2_orphans_mount), so the space comes back.  What e2fsck 1.47 says
 * of such an image (tests/host/test_fs_posix.c checks it): `e2fsck -p` clears the list
 * itself ("Clearing orphaned inode N (uid=..., size=...)", exit 1); `e2fsck -fn` does not
 * process it and reports, exit 4, "Deleted inode N has zero dtime" for the last orphan,
 * "Inodes that were part of a corrupted orphan linked list found" and "Inode N was part of
 * the orphaned inode list.  IGNORED." for the others, and the block and inode bitmap
 * differences of their space; nothing else. 
 *
 * The list and a power cut (plain ext2, fs/ext2_order.c rule 6).  e2fsck -p walks the list
 * from s_last_orphan and frees what it finds there; an inode OFF the list whose i_dtime looks
 * like an inode number ("part of a corrupted orphan linked list") makes it stop and ask for a
 * person.  So no state of the disk may show an inode off the list with a small i_dtime:
 *   - an inode joins at the TAIL: written first with links 0 and i_dtime 0 (the end of a
 *     list), durably, and only then does the old tail (or the superblock) point at it;
 *   - an inode leaves only from the tail: released (i_dtime = now), then its predecessor ends
 *     the list.  An orphan closed while a later one is still on the list stays on it, its
 *     blocks freed ("spent"), until it is the tail; then it goes as well.  Spent orphans wait
 *     only for orphans still open, so there are never more than the handles allow;
 *   - at mount (after a crash) and at shutdown the whole list is released, durably, before
 *     the superblock forgets it.
 * A crash at any point leaves a list e2fsck can walk: a node released already ends it with a
 * large i_dtime (e2fsck says "illegal inode in orphan list" and goes on unasked), the nodes
 * after it are released or the tail (i_dtime 0: "deleted inode has zero dtime", fixed unasked).
 *
 * The open table: OPEN_BUCKETS chains of {inode, opens}, under fs->lock.  It holds one entry
 * per inode open through the server, so its size is bounded by the server's handle limits
 * (max_conns x max_handles, docs/security.md). */
#include "ext2_internal.h"

#define OPEN_BUCKETS 256u
#define SB_LAST_ORPHAN_OFF 232u         /* s_last_orphan in the superblock (inside s_rest) */

_Static_assert(offsetof(struct ext2_super, s_rest) == 204, "s_rest starts at 204");

struct ext2_open_ino {
    struct ext2_open_ino *next;
    uint32_t ino;
    uint32_t opens;
};

static uint32_t last_orphan(struct ext2_fs *fs)
{
    uint32_t v;
    memcpy(&v, (const uint8_t *)fs->sb + SB_LAST_ORPHAN_OFF, sizeof v);
    return v;
}

static void set_last_orphan(struct ext2_fs *fs, uint32_t ino)
{
    memcpy((uint8_t *)fs->sb + SB_LAST_ORPHAN_OFF, &ino, sizeof ino);
    ext2_sb_dirty(fs);
    ext2_order_note_super(fs);
}

uint32_t ext2_orphan_head(struct ext2_fs *fs)
{
    return last_orphan(fs);
}

static struct ext2_open_ino **slot_of(struct ext2_fs *fs, uint32_t ino)
{
    struct ext2_open_ino **pp = &fs->open_tab[(ino * 2654435761u) % OPEN_BUCKETS];
    while (*pp && (*pp)->ino != ino)
        pp = &(*pp)->next;
    return pp;
}

bool ext2_ino_is_open(struct ext2_fs *fs, uint32_t ino)
{
    return fs->open_tab && *slot_of(fs, ino) != NULL;
}

int ext2_inode_usable(struct ext2_fs *fs, uint32_t ino, const struct ext2_inode *in, bool locked)
{
    if (in->i_mode == 0)
        return -FS_ENOENT;
    if (in->i_links_count > 0)
        return 0;
    if (!locked)
        return EXT2_E_RETRY_LOCKED;
    return ext2_ino_is_open(fs, ino) ? 0 : -FS_ENOENT;
}

int ext2_open_ino(struct ext2_fs *fs, uint32_t ino)
{
    struct ext2_inode in;
    if (ino < 1 || ino > fs->inodes_count)
        return -FS_ENOENT;
    fs_mutex_lock(&fs->lock);
    int r = 0;
    if (!fs->open_tab) {
        fs->open_tab = fs_alloc(sizeof *fs->open_tab * OPEN_BUCKETS);
        if (fs->open_tab)
            memset(fs->open_tab, 0, sizeof *fs->open_tab * OPEN_BUCKETS);
        else
            r = -FS_ENOMEM;
    }
    if (r == 0)
        r = ext2_iget(fs, ino, &in);
    if (r == 0)
        r = ext2_inode_usable(fs, ino, &in, true);   /* freed since the lookup: ENOENT */
    if (r == 0 && (in.i_mode & EXT2_S_IFMT) != EXT2_S_IFREG)
        r = (in.i_mode & EXT2_S_IFMT) == EXT2_S_IFDIR ? -FS_EISDIR : -FS_EINVAL;
    struct ext2_open_ino **pp = r == 0 ? slot_of(fs, ino) : NULL;
    if (pp && *pp) {
        (*pp)->opens++;
    } else if (pp) {
        struct ext2_open_ino *e = fs_alloc(sizeof *e);
        if (e) {
            e->next = NULL;
            e->ino = ino;
            e->opens = 1;
            *pp = e;
        } else {
            r = -FS_ENOMEM;
        }
    }
    fs_mutex_unlock(&fs->lock);
    return r;
}

/* The on-disk list in order from s_last_orphan: *v (fs_alloc'ed, *n entries).  fs->lock
 * held.  -EUCLEAN if it leaves the inode table or is longer than the inode count. */
static int list_read(struct ext2_fs *fs, uint32_t **v, uint32_t *n)
{
    uint32_t cap = 16, k = 0, cur = last_orphan(fs);
    uint32_t *a = fs_alloc(sizeof *a * cap);
    int r = a ? 0 : -FS_ENOMEM;
    while (r == 0 && cur) {
        struct ext2_inode ci;
        if (cur < fs->first_ino || cur > fs->inodes_count || k >= fs->inodes_count) {
            r = -FS_EUCLEAN;
            break;
        }
        if (k == cap) {
            uint32_t *b = fs_alloc(sizeof *b * cap * 2);
            if (!b) {
                r = -FS_ENOMEM;
                break;
            }
            memcpy(b, a, sizeof *a * k);
            fs_free(a);
            a = b;
            cap *= 2;
        }
        a[k++] = cur;
        r = ext2_iget(fs, cur, &ci);
        cur = ci.i_dtime;
    }
    if (r) {
        fs_free(a);
        return r;
    }
    *v = a;
    *n = k;
    return 0;
}

/* Ends the list after entry `keep` of v (keep 0: empty).  fs->lock held. */
static int list_cut(struct ext2_fs *fs, const uint32_t *v, uint32_t keep)
{
    if (keep == 0) {
        set_last_orphan(fs, 0);
        return 0;
    }
    struct ext2_inode ci;
    int r = ext2_iget(fs, v[keep - 1], &ci);
    if (r == 0) {
        ci.i_dtime = 0;
        r = ext2_iput(fs, v[keep - 1], &ci);
    }
    return r;
}

/* Releases the spent tail of the list: every orphan at its end that is no longer open
 * (fs->lock held, inside a change).  order: the released inodes are durable (their i_dtime
 * a time, not a link) before the list is cut in front of them (see the top of the file). */
static int trim_tail(struct ext2_fs *fs)
{
    uint32_t *v, n;
    int r = list_read(fs, &v, &n);
    if (r)
        return r;
    uint32_t keep = n;
    while (r == 0 && keep > 0 && !ext2_ino_is_open(fs, v[keep - 1])) {
        struct ext2_inode in;
        r = ext2_iget(fs, v[keep - 1], &in);
        if (r || in.i_links_count > 0 || in.i_mode == 0)
            break;                  /* not an orphan: leave the list for e2fsck */
        r = ext2_inode_release(fs, v[keep - 1], &in);
        keep--;
    }
    if (r == 0 && keep < n)
        r = ext2_order_barrier_notes(fs);
    if (r == 0 && keep < n)
        r = list_cut(fs, v, keep);
    fs_free(v);
    return r;
}

/* An orphan's last open went (fs->lock held, inside a change): at the tail it goes (with
 * the spent ones before it); else its blocks are freed now and it stays on the list. */
static int orphan_free(struct ext2_fs *fs, uint32_t ino)
{
    struct ext2_inode in;
    int r = ext2_iget(fs, ino, &in);
    if (r || in.i_links_count > 0 || in.i_mode == 0)
        return r;                       /* linked again (never: no name) or already gone */
    if (in.i_dtime == 0)
        return trim_tail(fs);
    if (ext2_inode_has_blocks(fs, &in)) {
        r = ext2_free_blocks_from(fs, &in, 0);
        if (ext2_set_isize(fs, &in, 0) == 0 && r == 0)
            r = ext2_iput(fs, ino, &in);
    }
    return r;
}

int ext2_close_ino(struct ext2_fs *fs, uint32_t ino)
{
    if (ino < 1 || ino > fs->inodes_count)
        return -FS_ENOENT;
    ext2_change_begin(fs);
    int r = -FS_ENOENT;
    struct ext2_open_ino **pp = fs->open_tab ? slot_of(fs, ino) : NULL;
    if (pp && *pp) {
        r = 0;
        if (--(*pp)->opens == 0) {
            struct ext2_open_ino *e = *pp;
            *pp = e->next;
            fs_free(e);
            if (!fs->read_only)
                r = orphan_free(fs, ino);
        }
    }
    ext2_change_end(fs);
    return r;
}

int ext2_orphan_keep(struct ext2_fs *fs, uint32_t ino, struct ext2_inode *in)
{
    uint32_t *v, n;
    int r = list_read(fs, &v, &n);
    if (r)
        return r;
    /* order: the new tail (links 0, i_dtime 0) is durable before anything points at it
     * (ext2_order.c rule 6); then the old tail or the superblock does */
    in->i_links_count = 0;
    in->i_dtime = 0;
    r = ext2_iput(fs, ino, in);
    if (r == 0)
        r = ext2_order_barrier_inode(fs, ino);
    if (r == 0 && n == 0) {
        set_last_orphan(fs, ino);
    } else if (r == 0) {
        struct ext2_inode ti;
        r = ext2_iget(fs, v[n - 1], &ti);
        if (r == 0) {
            ti.i_dtime = ino;
            r = ext2_iput(fs, v[n - 1], &ti);
        }
    }
    fs_free(v);
    return r;
}

/* 1 if ino's bit is set in its group's inode bitmap, 0 if not, or an error. */
static int inode_in_use(struct ext2_fs *fs, uint32_t ino)
{
    uint32_t bit = (ino - 1) % fs->inodes_per_group;
    struct ext2_blk bm;
    int r = ext2_bread(fs, ext2_gd(fs, ext2_group_of_inode(fs, ino))->bg_inode_bitmap, &bm);
    if (r)
        return r;
    int used = (bm.p[bit / 8] >> (bit & 7)) & 1;
    ext2_brelse(&bm);
    return used;
}

/* Releases every inode on the list, in order, and then empties the list (fs->lock held).
 * order: the released inodes are durable before the superblock forgets them.  A list that
 * points outside the inode table, at a linked or free inode, or loops is released up to
 * where it breaks and then cleared, with a message (e2fsck has the rest).  *freed counts. */
static int release_list(struct ext2_fs *fs, uint32_t *freed)
{
    uint32_t ino = last_orphan(fs);
    int r = 0;
    *freed = 0;
    while (ino) {
        struct ext2_inode in;
        if (ino < fs->first_ino || ino > fs->inodes_count || *freed >= fs->inodes_count) {
            r = -FS_EUCLEAN;
            break;
        }
        r = ext2_iget(fs, ino, &in);
        if (r)
            break;
        /* only an unlinked inode in use: a free one's stale block pointers may name
         * blocks that belong to other files now */
        int used = inode_in_use(fs, ino);
        if (used <= 0 || in.i_links_count > 0 || in.i_mode == 0) {
            r = used < 0 ? used : -FS_EUCLEAN;
            break;
        }
        uint32_t next = in.i_dtime;
        r = ext2_inode_release(fs, ino, &in);
        if (r)
            break;
        ++*freed;
        ino = next;
    }
    int b = ext2_order_barrier_notes(fs);
    set_last_orphan(fs, 0);                 /* win or lose, the list is not used again */
    if (r)
        fs_log("ext2: orphan list broken at inode %u (error %d): run e2fsck\n", ino, r);
    return r ? r : b;
}

/* Frees every inode on the list a crash left (read-write mount, before any request). */
int ext2_orphans_mount(struct ext2_fs *fs)
{
    uint32_t freed = 0;
    if (!last_orphan(fs) || fs->read_only)
        return 0;
    fs_mutex_lock(&fs->lock);
    int r = release_list(fs, &freed);
    int c = ext2_order_commit(fs);          /* their blocks and numbers: free now */
    if (r == 0)
        r = c;
    fs_mutex_unlock(&fs->lock);
    if (r == 0)
        fs_log("ext2: freed %u orphaned inode%s (unlinked while open before a crash)\n", freed,
               freed == 1 ? "" : "s");
    return r;
}

/* Shutdown: the orphans still open, and the spent ones, are freed while the volume is
 * writable, so the superblock is marked clean with an empty list; their entries in the open
 * table stay, and the closes that follow on the read-only volume free nothing. */
void ext2_orphans_shutdown(struct ext2_fs *fs)
{
    uint32_t freed;
    ext2_change_begin(fs);
    if (!fs->read_only && last_orphan(fs))
        (void)release_list(fs, &freed);
    ext2_change_end(fs);
}

/* Unmount: orphans still open (the server did not close them) are freed now, and the
 * table goes. */
void ext2_orphans_unmount(struct ext2_fs *fs)
{
    if (!fs->open_tab)
        return;
    ext2_change_begin(fs);
    for (uint32_t b = 0; b < OPEN_BUCKETS; b++) {
        while (fs->open_tab[b]) {
            struct ext2_open_ino *e = fs->open_tab[b];
            fs->open_tab[b] = e->next;
            if (!fs->read_only)
                (void)orphan_free(fs, e->ino);
            fs_free(e);
        }
    }
    fs_free(fs->open_tab);
    fs->open_tab = NULL;
    ext2_change_end(fs);
}
