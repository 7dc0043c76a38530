/*
 * units.h - the one parser for sizes and durations, used everywhere
 * (spec keys, command-line options, config files).
 *
 * Sizes:     "4GiB", "500MB", "1.5G", "1024" (bytes). Binary units KiB MiB
 *            GiB TiB (and K M G T, which mean the binary ones, as nvidia-smi
 *            and Slurm do); decimal units kB MB GB TB; B for bytes.
 *            Case-insensitive except that "b" alone means bytes.
 * Durations: "90" (seconds), "90s", "1.5h", "4h", "1d2h", "2h30m", "500ms",
 *            "HH:MM:SS" and "D-HH:MM:SS" (Slurm's form). Units: ms s m h d w.
 */
#ifndef SQ_UNITS_H
#define SQ_UNITS_H

#include <stdint.h>

/* Parses a size into bytes. SQ_EINVAL with a message naming text on error. */
int units_parse_size(const char *text, uint64_t *out_bytes);

/* Parses a duration into seconds (fractions allowed). SQ_EINVAL on error. */
int units_parse_duration(const char *text, double *out_seconds);

/* Formats bytes as "4 GiB", "512 MiB", "12 B" into buf (at least 32 bytes). */
const char *units_format_size(uint64_t bytes, char *buf, unsigned bufsize);

/* Formats seconds as "1h02m", "3m05s", "12.3s", "2d04h" into buf (>= 32). */
const char *units_format_duration(double seconds, char *buf, unsigned bufsize);

#endif
