package main

import (
	"bytes"
	"log/slog"
	"testing"
)

func TestLineHandlerWritesOneLineForPeople(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(&lineHandler{w: &buf})
	log.Debug("not shown")
	log.Info("waiting for capacity", "cluster", "jobs", "why", "RESOURCE:MEMORY")
	log.With("queue", "q").Warn("events queue failing")
	want := "hashike: waiting for capacity cluster=jobs why=RESOURCE:MEMORY\n" +
		"hashike: warning: events queue failing queue=q\n"
	if buf.String() != want {
		t.Fatalf("got %q, want %q", buf.String(), want)
	}
}
