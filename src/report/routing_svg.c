/* routing_svg.c: the expert load per layer as an SVG heatmap.
 *
 * One row per layer, one column per expert; a cell's shade is the number of the compared
 * tokens the engine routed to that expert (white = none, dark blue = the busiest cell);
 * a red outline marks a cell where the reference's count differs. Right of each row:
 * the layer's busiest expert over the mean load (1.00 = perfectly balanced). Hovering a
 * cell shows both counts. */
#include "routing.h"

enum { CELL_W = 16, CELL_H = 14, LEFT = 64, TOP = 56, RIGHT = 90, BOTTOM = 56 };

static void shade(int64_t n, int64_t max, char *out, size_t cap) {
    double x = max > 0 ? (double)n / (double)max : 0; /* 0..1: white -> rgb(8, 48, 107) */
    int r = (int)(255 - x * (255 - 8)), g = (int)(255 - x * (255 - 48)), b = (int)(255 - x * (255 - 107));
    snprintf(out, cap, "rgb(%d,%d,%d)", r, g, b);
}

static void cell(FILE *f, const routing_result *r, int layer, int e, int64_t max) {
    const routing_layer *L = &r->layers[layer];
    char fill[32];
    shade(L->load_a[e], max, fill, sizeof fill);
    int differs = L->load_a[e] != L->load_b[e];
    fprintf(f, "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"%s\" stroke=\"%s\" "
               "stroke-width=\"%d\"><title>layer %d, expert %d: engine %lld, reference %lld</title></rect>\n",
            LEFT + e * CELL_W, TOP + layer * CELL_H, CELL_W, CELL_H, fill,
            differs ? "#d62728" : "#ffffff", differs ? 2 : 1, layer, e, (long long)L->load_a[e],
            (long long)L->load_b[e]);
}

static void row_balance(FILE *f, const routing_result *r, int layer) {
    const routing_layer *L = &r->layers[layer];
    int64_t max = 0, sum = 0;
    for (int e = 0; e < r->n_experts; e++) {
        sum += L->load_a[e];
        if (L->load_a[e] > max) max = L->load_a[e];
    }
    double mean = (double)sum / r->n_experts;
    fprintf(f, "<text x=\"%d\" y=\"%d\">%.2f</text>\n", LEFT + r->n_experts * CELL_W + 8,
            TOP + layer * CELL_H + CELL_H - 3, mean > 0 ? (double)max / mean : 0.0);
}

static void axes(FILE *f, const routing_result *r) {
    for (int i = 0; i < r->n_layers; i++)
        fprintf(f, "<text x=\"%d\" y=\"%d\" text-anchor=\"end\">%d</text>\n", LEFT - 6,
                TOP + i * CELL_H + CELL_H - 3, i);
    int step = r->n_experts > 64 ? 8 : r->n_experts > 16 ? 4 : 1;
    for (int e = 0; e < r->n_experts; e += step)
        fprintf(f, "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\">%d</text>\n",
                LEFT + e * CELL_W + CELL_W / 2, TOP - 6, e);
    fprintf(f, "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\">expert</text>\n",
            LEFT + r->n_experts * CELL_W / 2, TOP - 22);
    fprintf(f, "<text x=\"14\" y=\"%d\" transform=\"rotate(-90 14 %d)\" text-anchor=\"middle\">layer</text>\n",
            TOP + r->n_layers * CELL_H / 2, TOP + r->n_layers * CELL_H / 2);
    fprintf(f, "<text x=\"%d\" y=\"%d\">max/mean</text>\n", LEFT + r->n_experts * CELL_W + 8, TOP - 6);
}

static void legend(FILE *f, const routing_result *r, int64_t max, int height) {
    int y = height - BOTTOM + 20;
    for (int i = 0; i <= 10; i++) {
        char fill[32];
        shade(i, 10, fill, sizeof fill);
        fprintf(f, "<rect x=\"%d\" y=\"%d\" width=\"12\" height=\"12\" fill=\"%s\"/>\n", LEFT + i * 12, y, fill);
    }
    fprintf(f, "<text x=\"%d\" y=\"%d\">0 .. %lld tokens; red outline: the reference differs</text>\n",
            LEFT + 11 * 12 + 8, y + 10, (long long)max);
}

void routing_svg(FILE *f, const routing_run *run) {
    const routing_result *r = run->result;
    int width = LEFT + r->n_experts * CELL_W + RIGHT, height = TOP + r->n_layers * CELL_H + BOTTOM;
    if (width < 520) width = 520;
    int64_t max = 0;
    for (int i = 0; i < r->n_layers; i++)
        for (int e = 0; e < r->n_experts; e++)
            if (r->layers[i].load_a[e] > max) max = r->layers[i].load_a[e];
    fprintf(f, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
               "font-family=\"sans-serif\" font-size=\"11\">\n",
            width, height);
    fprintf(f, "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n");
    fprintf(f, "<text x=\"%d\" y=\"16\" font-size=\"13\">Expert load per layer: engine vs %s, "
               "%d tokens, top-%d of %d (%s)</text>\n",
            LEFT, run->against, r->n_tokens, r->k, r->n_experts, r->pass ? "PASS" : "FAIL");
    axes(f, r);
    for (int i = 0; i < r->n_layers; i++) {
        for (int e = 0; e < r->n_experts; e++) cell(f, r, i, e, max);
        row_balance(f, r, i);
    }
    legend(f, r, max, height);
    fputs("</svg>\n", f);
}
