/* bpe.c: byte-pair encoding of one piece.
 *
 * tiktoken's rule: start from single bytes; repeatedly merge the adjacent pair whose
 * concatenation has the lowest rank (the leftmost one on a tie) until no adjacent pair is
 * a token. Here the parts are a doubly linked list over the piece's bytes and the candidate
 * pairs sit in a binary min-heap keyed (rank, position), so each merge costs O(log n) and
 * the whole piece O(n log n). A heap entry goes stale when a neighbour merges; it is
 * recognised by comparing with the pair's current rank and skipped.
 * Most pieces are whole tokens; they are answered by one lookup before any of this. */
#include <stdlib.h>

#include "tokenizer/tokenizer_internal.h"

int idvec_push(idvec *iv, int32_t id) {
    if (iv->n == iv->cap) {
        size_t cap = iv->cap ? iv->cap * 2 : 64;
        int32_t *v = realloc(iv->v, cap * sizeof *v);
        if (!v) return -1;
        iv->v = v;
        iv->cap = cap;
    }
    iv->v[iv->n++] = id;
    return 0;
}

/* ---- a binary min-heap of (rank << 32 | position) ---- */

static void heap_push(uint64_t *h, size_t *n, uint64_t x) {
    size_t i = (*n)++;
    while (i > 0 && h[(i - 1) / 2] > x) {
        h[i] = h[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    h[i] = x;
}

static uint64_t heap_pop(uint64_t *h, size_t *n) {
    uint64_t top = h[0], x = h[--*n];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= *n) break;
        if (c + 1 < *n && h[c + 1] < h[c]) c++;
        if (h[c] >= x) break;
        h[i] = h[c];
        i = c;
    }
    h[i] = x;
    return top;
}

/* Work space for a piece of n bytes: next/prev links, the rank of the pair starting at
 * each live part (-1: none or dead), and the heap (n - 1 initial pairs + 2 per merge). */
typedef struct {
    uint32_t *next, *prev;
    int32_t *prank;
    uint64_t *heap;
    size_t nheap;
} bpe_work;

/* The rank of the pair that starts at part i, or -1. */
static int32_t pair_rank(const struct gptoss_tokenizer *t, const uint8_t *p, uint32_t n,
                         const bpe_work *w, uint32_t i) {
    uint32_t j = w->next[i];
    if (j >= n) return -1;
    return vocab_rank(t, p + i, w->next[j] - i);
}

static void set_pair(const struct gptoss_tokenizer *t, const uint8_t *p, uint32_t n,
                     bpe_work *w, uint32_t i) {
    int32_t r = pair_rank(t, p, n, w, i);
    w->prank[i] = r;
    if (r >= 0) heap_push(w->heap, &w->nheap, (uint64_t)r << 32 | i);
}

static int merge(const struct gptoss_tokenizer *t, const uint8_t *p, uint32_t n, bpe_work *w,
                 idvec *out) {
    for (uint32_t i = 0; i < n; i++) {
        w->next[i] = i + 1;
        w->prev[i] = i - 1; /* UINT32_MAX for the first */
    }
    w->nheap = 0;
    for (uint32_t i = 0; i < n; i++) set_pair(t, p, n, w, i);
    while (w->nheap) {
        uint64_t top = heap_pop(w->heap, &w->nheap);
        uint32_t i = (uint32_t)top;
        if (w->prank[i] != (int32_t)(top >> 32)) continue; /* stale */
        uint32_t j = w->next[i];                          /* merge part j into part i */
        w->next[i] = w->next[j];
        if (w->next[j] < n) w->prev[w->next[j]] = i;
        w->prank[j] = -1;
        set_pair(t, p, n, w, i);
        if (w->prev[i] != UINT32_MAX) set_pair(t, p, n, w, w->prev[i]);
    }
    for (uint32_t i = 0; i < n; i = w->next[i])
        if (idvec_push(out, vocab_rank(t, p + i, w->next[i] - i))) return -1;
    return 0;
}

#define SMALL 64

int bpe_encode_piece(const struct gptoss_tokenizer *t, const uint8_t *p, size_t n, idvec *out) {
    int32_t r = vocab_rank(t, p, n);
    if (r >= 0) return idvec_push(out, r);
    if (n <= SMALL) {
        uint32_t next[SMALL], prev[SMALL];
        int32_t prank[SMALL];
        uint64_t heap[3 * SMALL];
        bpe_work w = {next, prev, prank, heap, 0};
        return merge(t, p, (uint32_t)n, &w, out);
    }
    if (n > UINT32_MAX / 4) return -1;
    bpe_work w = {malloc(n * 4), malloc(n * 4), malloc(n * 4), malloc(n * 3 * 8), 0};
    int rc = (w.next && w.prev && w.prank && w.heap) ? merge(t, p, (uint32_t)n, &w, out) : -1;
    free(w.next);
    free(w.prev);
    free(w.prank);
    free(w.heap);
    return rc;
}
