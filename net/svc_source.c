/*
 * Source (port 19): the client sends a decimal byte count ended by a newline
 * ("16777216\n"; a '\r' before it and surrounding spaces are allowed); the server sends
 * exactly that many bytes of RFC 864 chargen text and closes.  Anything after the
 * newline is ignored; a malformed or over-long request just closes the connection.
 *
 * The data is written without copying (the pattern buffer is static and identity
 * mapped), so these segments go to the e1000 as header + payload scatter-gather.
 */
#include "net_svc.h"
#include "mm.h"

#define LINE_CHARS 72
#define LINE_BYTES (LINE_CHARS + 2)
#define PATTERN_BYTES (LINE_BYTES * 95 * 8)    /* whole chargen cycles, ~55 KiB */
static char pattern[PATTERN_BYTES];

struct source_conn {
    char req[24];
    uint32_t req_len;
    bool have_count, closing;
    uint64_t remaining;
    uint32_t offset;            /* into pattern */
};

static void pattern_init(void)
{
    for (uint32_t line = 0; line < PATTERN_BYTES / LINE_BYTES; line++) {
        char *l = pattern + line * LINE_BYTES;
        for (uint32_t i = 0; i < LINE_CHARS; i++)
            l[i] = (char)(' ' + (line + i) % 95);
        l[LINE_CHARS] = '\r';
        l[LINE_CHARS + 1] = '\n';
    }
}

static void source_fill(struct tcp_pcb *pcb, struct source_conn *c)
{
    while (c->remaining) {
        uint32_t room = tcp_sndbuf(pcb);
        uint64_t n = MIN(MIN((uint64_t)room, c->remaining), (uint64_t)(PATTERN_BYTES - c->offset));
        n = MIN(n, 0xFFFFu);
        if (!n || tcp_sndqueuelen(pcb) >= TCP_SND_QUEUELEN - 4)
            break;
        u8_t flags = n < c->remaining ? TCP_WRITE_FLAG_MORE : 0;
        if (tcp_write(pcb, pattern + c->offset, (u16_t)n, flags) != ERR_OK)
            break;              /* ERR_MEM: resumed from the sent callback */
        c->remaining -= n;
        c->offset = (uint32_t)((c->offset + n) % PATTERN_BYTES);
    }
    tcp_output(pcb);
    if (!c->remaining && c->have_count && svc_close(pcb) == ERR_OK)
        kfree(c);
}

/* Feeds request bytes; returns false if the request is malformed. */
static bool parse_request(struct source_conn *c, const char *s, uint32_t n)
{
    for (uint32_t i = 0; i < n && !c->have_count; i++) {
        char ch = s[i];
        if (ch == '\n') {
            uint64_t v = 0;
            bool any = false;
            for (uint32_t k = 0; k < c->req_len; k++) {
                char d = c->req[k];
                if (d >= '0' && d <= '9') {
                    if (v > (UINT64_MAX - 9) / 10)
                        return false;
                    v = v * 10 + (uint64_t)(d - '0');
                    any = true;
                } else if (d != ' ' && d != '\r' && d != '\t') {
                    return false;
                }
            }
            if (!any)
                return false;
            c->remaining = v;
            c->have_count = true;
        } else if (c->req_len < sizeof c->req) {
            c->req[c->req_len++] = ch;
        } else {
            return false;
        }
    }
    return true;
}

static err_t source_recv(void *arg, struct tcp_pcb *pcb, struct pbuf *p, err_t err)
{
    struct source_conn *c = arg;
    if (!p) {
        if (!c->have_count && svc_close(pcb) == ERR_OK)
            kfree(c);
        return ERR_OK;          /* with a count: keep sending, close when done */
    }
    tcp_recved(pcb, p->tot_len);
    bool was_counting = c->have_count;
    bool ok = true;
    for (struct pbuf *q = p; q && ok && !c->have_count; q = q->next)
        ok = parse_request(c, q->payload, q->len);
    pbuf_free(p);
    if (!ok) {
        if (svc_close(pcb) == ERR_OK)
            kfree(c);
        return ERR_OK;
    }
    if (!was_counting && c->have_count)
        source_fill(pcb, c);
    return ERR_OK;
}

static err_t source_sent(void *arg, struct tcp_pcb *pcb, u16_t len)
{
    source_fill(pcb, arg);
    return ERR_OK;
}

static err_t source_poll(void *arg, struct tcp_pcb *pcb)
{
    struct source_conn *c = arg;
    if (c->have_count)
        source_fill(pcb, c);
    return ERR_OK;
}

static void source_err(void *arg, err_t err) { kfree(arg); }

static err_t source_accept(void *arg, struct tcp_pcb *pcb, err_t err)
{
    if (err != ERR_OK || !pcb)
        return ERR_VAL;
    if (!svc_accept(pcb, sizeof(struct source_conn), source_recv, source_sent, source_err, source_poll))
        return ERR_ABRT;
    return ERR_OK;
}

void svc_source_start(void)
{
    pattern_init();
    svc_listen(19, source_accept, "source");
}
