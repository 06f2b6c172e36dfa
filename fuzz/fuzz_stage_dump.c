/* fuzz_stage_dump.c: libFuzzer target for the stage-dump reader (files written by the
 * reference adapters, read by `gptoss parity` and `gptoss routing`) and what consumes a
 * dump. The input is the whole safetensors file. A dump loads or is refused with a
 * message; a loaded one is compared with itself and with an empty dump by the parity
 * comparison and the routing comparison, which must succeed or refuse it with a message.
 * A dump compared with itself has no integer mismatch and agrees on every routing
 * decision; the routing reports (text, markdown, JSON, SVG) are written to /dev/null. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <cjson/cJSON.h>

#include "parity/parity.h"
#include "report/routing.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static FILE *devnull;

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    if (!(devnull = fopen("/dev/null", "w"))) abort();
    return 0;
}

static void parity(const stage_dump *a, const stage_dump *b) {
    parity_result r;
    if (parity_compare(a, b, "engine", "reference", &r)) {
        if (!gptoss_last_error()[0]) abort();
        return;
    }
    for (size_t i = 0; i < r.n_issues; i++)
        if (!r.issues[i].text || (a == b && r.issues[i].kind == ISSUE_MISMATCH)) abort();
    void *js = parity_result_json(&r);
    cJSON_Delete(js);
    parity_result_free(&r);
}

static void routing(const stage_dump *a, const stage_dump *b) {
    routing_result r;
    if (routing_compare(a, b, 0, ROUTING_DEFAULT_GATE_TOLERANCE, &r)) {
        if (!gptoss_last_error()[0]) abort();
        return;
    }
    if (a == b && r.order_matches != r.decisions) abort();
    routing_run run = {.against = "torch", .timestamp = "20250101-000000", .svg_name = "load.svg",
                       .engine_s = -1, .reference_s = -1, .result = &r};
    routing_print(devnull, &run);
    routing_markdown(devnull, &run);
    routing_svg(devnull, &run);
    cJSON_Delete(routing_json(&run));
    routing_result_free(&r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    stage_dump d, empty;
    dump_init(&d);
    dump_init(&empty);
    if (dump_load_bytes("fuzz.safetensors", data, size, &d)) {
        if (!gptoss_last_error()[0]) abort();
    } else {
        parity(&d, &d);
        parity(&d, &empty);
        routing(&d, &d);
    }
    dump_free(&d);
    return 0;
}
