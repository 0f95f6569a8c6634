/* SPDX-License-Identifier: MIT */
/*
 * log.h - the one log of imgfs.
 *
 * Owns: the log level and the log sink (stderr in the foreground, syslog
 * when daemonised).  Both are set once by main() before any thread starts
 * and are read-only afterwards, so no lock is needed.
 *
 * Rule for callers: a failed operation with a cause beyond its errno logs
 * exactly one line naming the object and the cause.  Never log credentials.
 */
#ifndef IMGFS_LOG_H
#define IMGFS_LOG_H

enum log_level { LOG_LVL_ERR = 0, LOG_LVL_WARN, LOG_LVL_INFO, LOG_LVL_DEBUG };

void log_setup(enum log_level level, int use_syslog);
int log_level_parse(const char *s, enum log_level *out);
int log_enabled(enum log_level level);
#include <stddef.h>

/*
 * log_msg - one line at @level.  The formatted text is passed through
 * log_escape() before it reaches the sink, so callers may format strings
 * from outside as they are.
 */
void log_msg(enum log_level level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/*
 * log_escape - @in with every control character (< 0x20, 0x7f) and
 * backslash written as \xNN, into @out (@outsz bytes, NUL-terminated; an
 * escape that does not fit whole is dropped).  Returns the length written.
 */
size_t log_escape(const char *in, char *out, size_t outsz);

#define log_err(...)   log_msg(LOG_LVL_ERR, __VA_ARGS__)
#define log_warn(...)  log_msg(LOG_LVL_WARN, __VA_ARGS__)
#define log_info(...)  log_msg(LOG_LVL_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_LVL_DEBUG, __VA_ARGS__)

#endif
