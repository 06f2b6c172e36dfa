/* cmd_export_onnx.c: not built yet. */
#include <stdio.h>

#include "cli.h"

int cmd_export_onnx(int argc, char **argv) {
    (void)argc;
    fprintf(stderr, "gptoss %s: does not exist yet\n", argv[0]);
    return 3;
}
