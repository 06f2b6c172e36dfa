/* data_file.h: the name of an exported model's external data file, chosen so that the
 * model and its data are replaced together.
 *
 * Exports alternate between two names beside the model, <model>.data and <model>.2.data:
 * the new data is written under the name that the model now at the output path does not
 * reference, so renaming the new model over the old one is the single commit of the pair.
 * Before it, the old model and its data are untouched (the new data file is only an
 * unreferenced file); after it, the new model has its data, and the old data file (the
 * other name) is removed. A crash between the two leaves at most a file that nothing
 * references, which the next export replaces or removes. */
#ifndef GPTOSS_ONNX_DATA_FILE_H
#define GPTOSS_ONNX_DATA_FILE_H

#include "gptoss.h"

typedef struct ox_data_file {
    char *location;   /* the new data file's name, as the model references it */
    char *path;       /* its path */
    char *stale_path; /* the other name's path: removed once the new model is in place */
} ox_data_file;

/* Picks the name for a model to be written at model_path. */
gptoss_status ox_data_file_choose(const char *model_path, ox_data_file *d);
/* After the model's rename: removes the stale data file, and the new one too when the new
 * model has no external data (used = 0). Errors other than "no such file" are reported. */
gptoss_status ox_data_file_cleanup(const ox_data_file *d, int used);
void ox_data_file_free(ox_data_file *d);

#endif
