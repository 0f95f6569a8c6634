/* SPDX-License-Identifier: MIT */
/*
 * log.c - leveled logging to stderr or syslog.  See log.h.
 *
 * Log lines carry strings from outside (tar names, tags, media types,
 * registry messages).  Rather than trusting every caller to escape them,
 * the formatted line is escaped here, once: a control character or a
 * backslash becomes \xNN, so a hostile name can neither forge a second
 * log line nor drive a terminal.
 */
#include "log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>
#include <time.h>

/* Written by log_setup() before threads exist; read-only afterwards. */
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

size_t log_escape(const char *in, char *out, size_t outsz)
{
	static const char hex[] = "0123456789abcdef";
	size_t o = 0;

	if (!outsz)
		return 0;
	for (const unsigned char *p = (const unsigned char *)in; *p; p++) {
		bool plain = *p >= 0x20 && *p != 0x7f && *p != '\\';

		if (o + (plain ? 1 : 4) >= outsz)
			break;
		if (plain) {
			out[o++] = (char)*p;
		} else {
			out[o++] = '\\';
			out[o++] = 'x';
			out[o++] = hex[*p >> 4];
			out[o++] = hex[*p & 15];
		}
	}
	out[o] = '\0';
	return o;
}

void log_msg(enum log_level level, const char *fmt, ...)
{
	static const int prio[] = { LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG };
	static const char *const tag[] = { "error", "warn", "info", "debug" };
	char raw[2048], line[2048];
	va_list ap;

	if (level > cur_level)
		return;
	va_start(ap, fmt);
	vsnprintf(raw, sizeof(raw), fmt, ap);
	va_end(ap);
	log_escape(raw, line, sizeof(line));
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
