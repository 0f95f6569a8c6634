/* SPDX-License-Identifier: MIT */
/*
 * log.c - leveled logging to stderr or syslog.  See log.h.
 */
#include "log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>
#include <time.h>

/* Written once by log_setup() before threads exist; read-only afterwards. */
static enum log_level cur_level = LOG_LVL_WARN;
static int to_syslog;

void log_setup(enum log_level level, int use_syslog)
{
	cur_level = level;
	to_syslog = use_syslog;
	if (use_syslog)
		openlog("imgfs", LOG_PID, LOG_DAEMON);
}

int log_level_parse(const char *s, enum log_level *out)
{
	static const char *const names[] = { "error", "warn", "info", "debug" };

	for (unsigned i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (strcmp(s, names[i]) == 0) {
			*out = (enum log_level)i;
			return 0;
		}
	}
	return -EINVAL;
}

int log_enabled(enum log_level level)
{
	return level <= cur_level;
}

void log_msg(enum log_level level, const char *fmt, ...)
{
	static const int prio[] = { LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG };
	static const char *const tag[] = { "error", "warn", "info", "debug" };
	char line[2048];
	va_list ap;

	if (level > cur_level)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (to_syslog) {
		syslog(prio[level], "%s", line);
	} else {
		/* One fprintf per line: stdio locks the stream, so lines from
		 * concurrent threads never interleave. */
		struct timespec ts;
		struct tm tm;

		clock_gettime(CLOCK_REALTIME, &ts);
		localtime_r(&ts.tv_sec, &tm);
		fprintf(stderr, "imgfs %02d:%02d:%02d.%03ld %s: %s\n", tm.tm_hour,
			tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000, tag[level], line);
	}
}
