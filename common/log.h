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
void log_msg(enum log_level level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#define log_err(...)   log_msg(LOG_LVL_ERR, __VA_ARGS__)
#define log_warn(...)  log_msg(LOG_LVL_WARN, __VA_ARGS__)
#define log_info(...)  log_msg(LOG_LVL_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_LVL_DEBUG, __VA_ARGS__)

#endif
