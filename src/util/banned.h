/*
 * banned.h - functions we do not use, made compile errors (after git's).
 * Use snprintf/strbuf, strtok_r, localtime_r/gmtime_r instead.
 * Included by every .c through CMake's -include would be too clever: each
 * module header that wants it includes it; util/common.h does.
 */
#ifndef SQ_BANNED_H
#define SQ_BANNED_H

#define SQ_BANNED(func) sorry_##func##_is_banned_use_a_bounded_alternative

#undef strcpy
#define strcpy(x, y) SQ_BANNED(strcpy)
#undef strcat
#define strcat(x, y) SQ_BANNED(strcat)
#undef sprintf
#define sprintf(...) SQ_BANNED(sprintf)
#undef vsprintf
#define vsprintf(...) SQ_BANNED(vsprintf)
#undef strtok
#define strtok(x, y) SQ_BANNED(strtok)
#undef localtime
#define localtime(x) SQ_BANNED(localtime)
#undef gmtime
#define gmtime(x) SQ_BANNED(gmtime)
#undef gets
#define gets(x) SQ_BANNED(gets)

#endif
