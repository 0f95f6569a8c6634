/* SPDX-License-Identifier: MIT */
/*
 * log.h - the one log of imgfs.
 *
 * Owns: the log level and the log sink (stderr in the foreground, syslog
 * when daemonised).  Both are set by main() before any thread starts and
 * are read-only afterwards, so no lock is needed.
 *
 * Rule for callers: a failed operation with a cause beyond its errno logs
 * exactly one line naming the object and the cause.  Never log credentials.
 */
#ifndef IMGFS_LOG_H
#define IMGFS_LOG_H

#include <stddef.h>

enum log_level { LOG_LVL_ERR = 0, LOG_LVL_WARN, LOG_LVL_INFO, LOG_LVL_DEBUG };

/*
 * log_setup - lines up to @level go to standard error, or with @use_syslog
 * to syslog (ident "imgfs", with the pid, facility daemon; journald takes
 * them from there).  Called before any thread exists: main() calls it at
 * start with stderr, and again with syslog once the daemon has detached
 * from its terminal.
 */
void log_setup(enum log_level level, int use_syslog);
/* log_level_parse - "error", "warn", "info" or "debug" into *@out; -EINVAL
 * for anything else. */
int log_level_parse(const char *s, enum log_level *out);
int log_enabled(enum log_level level);

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
