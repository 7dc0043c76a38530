/*
 * file.h - replacing a whole file so that no reader ever sees half of it.
 */
#ifndef SQ_FILE_H
#define SQ_FILE_H

#include <stddef.h>

/*
 * Makes path hold exactly data[0..len): the bytes go to a temporary file
 * beside it (same directory, so the rename cannot cross file systems), are
 * flushed to disk, and the temporary file is renamed over path. A reader
 * sees the old content or the new, never a part, and a crash leaves the old
 * file. The new file keeps path's mode when path exists, else 0666 less the
 * umask. Returns 0, or SQ_EIO with "cannot write 'PATH': cause" (the
 * temporary file is removed).
 */
int file_replace(const char *path, const void *data, size_t len);

#endif
