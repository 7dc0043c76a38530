/*
 * common.h - what every source file of sweepq includes first: the error
 * model, allocation, buffers and the banned-function list.
 */
#ifndef SQ_COMMON_H
#define SQ_COMMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/error.h"
#include "util/strbuf.h"
#include "util/xalloc.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

#include "util/banned.h"

#endif
