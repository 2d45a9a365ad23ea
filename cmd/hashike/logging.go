package main

import (
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"

	"github.com/hashike/hashike"
)

// Log formats and levels of --log-format and --log-level.
var (
	logFormats = []string{"text", "json"}
	logLevels  = map[string]slog.Level{"debug": slog.LevelDebug, "info": slog.LevelInfo, "warn": slog.LevelWarn, "error": slog.LevelError}
)

// logFlags are the global --log-format and --log-level (env HASHIKE_LOG_FORMAT and
// HASHIKE_LOG_LEVEL): how the long-running commands (server, autoscaler) log, and, once
// either is set, how the backends of the other commands report what they wait for.
type logFlags struct {
	format, level string
}

// logSettings returns the format and level asked for (flag, else environment, else text and
// info) and whether either was asked at all; a value it does not know is a usage error
// naming the flag.
func (a *app) logSettings() (format string, level slog.Level, asked bool, err error) {
	format, level = "text", slog.LevelInfo
	var fields []hashike.FieldError
	f := a.log.format
	if f == "" {
		f = a.env("HASHIKE_LOG_FORMAT")
	}
	if f != "" {
		asked = true
		format = strings.ToLower(f)
		if format != "text" && format != "json" {
			fields = append(fields, hashike.FieldError{Path: "--log-format", Severity: hashike.SeverityError,
				Message: fmt.Sprintf("%q is not a log format: %s", f, strings.Join(logFormats, " or "))})
		}
	}
	l := a.log.level
	if l == "" {
		l = a.env("HASHIKE_LOG_LEVEL")
	}
	if l != "" {
		asked = true
		v, ok := logLevels[strings.ToLower(l)]
		if !ok {
			fields = append(fields, hashike.FieldError{Path: "--log-level", Severity: hashike.SeverityError,
				Message: fmt.Sprintf("%q is not a log level: debug, info, warn or error", l)})
		}
		level = v
	}
	if len(fields) > 0 {
		return "", 0, asked, &hashike.Error{Code: hashike.EInvalid, Message: "invalid flags", Fields: fields}
	}
	return format, level, asked, nil
}

// logger is the structured logger of the long-running commands, on stderr.
func (a *app) logger() (*slog.Logger, error) {
	format, level, _, err := a.logSettings()
	if err != nil {
		return nil, err
	}
	return newLogger(a.stderr, format, level), nil
}

func newLogger(w io.Writer, format string, level slog.Level) *slog.Logger {
	opts := &slog.HandlerOptions{Level: level}
	if format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// backendLogger is the logger a backend reports to: the server's (or autoscaler's) when
// one runs in this process, else, for the commands people watch (hashike run), one line
// per record unless --log-format or --log-level asked for structured records.
func (a *app) backendLogger() *slog.Logger {
	if l, ok := a.structuredLog(); ok {
		return l
	}
	return slog.New(&lineHandler{w: a.stderr})
}

// structuredLog is the process's structured logger, when it has one: a long-running
// command's, or one that --log-format or --log-level asked for.
func (a *app) structuredLog() (*slog.Logger, bool) {
	if a.procLog != nil {
		return a.procLog, true
	}
	if format, level, asked, err := a.logSettings(); err == nil && asked {
		return newLogger(a.stderr, format, level), true
	}
	return nil, false
}

// logLines is a writer that logs each line written to it as one info record, the line as
// its step: for what writes progress lines (a pull) inside a process that logs records.
type logLines struct {
	log *slog.Logger
	msg string

	mu   sync.Mutex
	part []byte
}

func (w *logLines) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.part = append(w.part, p...)
	for {
		i := bytes.IndexByte(w.part, '\n')
		if i < 0 {
			break
		}
		if line := strings.TrimSpace(string(w.part[:i])); line != "" {
			w.log.Info(w.msg, "step", line)
		}
		w.part = w.part[i+1:]
	}
	return len(p), nil
}
