/* cli.h: the subcommands of the gptoss command and small helpers they share. */
#ifndef GPTOSS_CLI_H
#define GPTOSS_CLI_H

#include <stddef.h>

#include "gptoss.h"

/* Each subcommand: argv[0] is the subcommand's name. Returns the process exit status. */
int cmd_synth(int argc, char **argv);
int cmd_inspect(int argc, char **argv);
int cmd_run(int argc, char **argv);
int cmd_tokenize(int argc, char **argv);
int cmd_parity(int argc, char **argv);
int cmd_export_onnx(int argc, char **argv);
int cmd_routing(int argc, char **argv);
int cmd_generate(int argc, char **argv);
int cmd_chat(int argc, char **argv);

/* Prints "gptoss <cmd>: <message>" (with gptoss_last_error() when status != OK) to stderr
 * and returns exit status 1 (2 for argument errors). */
int cli_fail(const char *cmd, gptoss_status status);
/* All of standard input, NUL-terminated (the NUL is not counted in *len); NULL on a read
 * error or out of memory. */
char *cli_read_stdin(size_t *len);
int cli_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
