package client

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/pion/logging"
)

// pion's own levels are loud: it logs routine events (a stale candidate
// after an ICE restart) as errors, and its debug output runs to thousands
// of lines per call. So its errors and warnings become our warnings, its
// info our debug, and its debug and trace sit below slog's debug level,
// off unless a handler asks for them.
const (
	levelPionDebug = slog.LevelDebug - 4
	levelPionTrace = slog.LevelDebug - 8
)

// pionLoggers routes pion's logs into a slog.Logger, tagged with pion's
// scope (ice, dtls, pc…).
type pionLoggers struct{ log *slog.Logger }

func (f pionLoggers) NewLogger(scope string) logging.LeveledLogger {
	return pionLogger{f.log.With("pion", scope)}
}

type pionLogger struct{ log *slog.Logger }

func (l pionLogger) logf(level slog.Level, format string, args ...any) {
	if l.log.Enabled(context.Background(), level) {
		l.log.Log(context.Background(), level, fmt.Sprintf(format, args...))
	}
}

func (l pionLogger) Trace(msg string)                  { l.logf(levelPionTrace, "%s", msg) }
func (l pionLogger) Tracef(format string, args ...any) { l.logf(levelPionTrace, format, args...) }
func (l pionLogger) Debug(msg string)                  { l.logf(levelPionDebug, "%s", msg) }
func (l pionLogger) Debugf(format string, args ...any) { l.logf(levelPionDebug, format, args...) }
func (l pionLogger) Info(msg string)                   { l.logf(slog.LevelDebug, "%s", msg) }
func (l pionLogger) Infof(format string, args ...any)  { l.logf(slog.LevelDebug, format, args...) }
func (l pionLogger) Warn(msg string)                   { l.logf(slog.LevelWarn, "%s", msg) }
func (l pionLogger) Warnf(format string, args ...any)  { l.logf(slog.LevelWarn, format, args...) }
func (l pionLogger) Error(msg string)                  { l.logf(slog.LevelWarn, "%s", msg) }
func (l pionLogger) Errorf(format string, args ...any) { l.logf(slog.LevelWarn, format, args...) }
