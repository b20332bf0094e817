// Package pionlog routes the logs of pion's libraries (ice, dtls, sctp,
// turn…) into a slog.Logger, tagged with pion's scope. It is shared by the
// client SDK, the TURN relay and the SFU.
package pionlog

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/pion/logging"
)

// pion's own levels are loud: it logs routine events (a stale candidate
// after an ICE restart, a client that went away) as errors, and its debug
// output runs to thousands of lines per connection. So its info becomes
// our debug, and its debug and trace sit below slog's debug level, off
// unless a handler asks for them.
const (
	levelDebug = slog.LevelDebug - 4
	levelTrace = slog.LevelDebug - 8
)

// Factory makes pion loggers writing to log. Pion's warnings and errors
// are logged at problems: slog.LevelWarn where they are worth an
// operator's eye, slog.LevelDebug where pion puts personal data (client
// addresses) into them.
func Factory(log *slog.Logger, problems slog.Level) logging.LoggerFactory {
	return factory{log: log, problems: problems}
}

type factory struct {
	log      *slog.Logger
	problems slog.Level
}

func (f factory) NewLogger(scope string) logging.LeveledLogger {
	return logger{log: f.log.With("pion", scope), problems: f.problems}
}

type logger struct {
	log      *slog.Logger
	problems slog.Level
}

func (l logger) logf(level slog.Level, format string, args ...any) {
	if l.log.Enabled(context.Background(), level) {
		l.log.Log(context.Background(), level, fmt.Sprintf(format, args...))
	}
}

func (l logger) Trace(msg string)                  { l.logf(levelTrace, "%s", msg) }
func (l logger) Tracef(format string, args ...any) { l.logf(levelTrace, format, args...) }
func (l logger) Debug(msg string)                  { l.logf(levelDebug, "%s", msg) }
func (l logger) Debugf(format string, args ...any) { l.logf(levelDebug, format, args...) }
func (l logger) Info(msg string)                   { l.logf(slog.LevelDebug, "%s", msg) }
func (l logger) Infof(format string, args ...any)  { l.logf(slog.LevelDebug, format, args...) }
func (l logger) Warn(msg string)                   { l.logf(l.problems, "%s", msg) }
func (l logger) Warnf(format string, args ...any)  { l.logf(l.problems, format, args...) }
func (l logger) Error(msg string)                  { l.logf(l.problems, "%s", msg) }
func (l logger) Errorf(format string, args ...any) { l.logf(l.problems, format, args...) }
