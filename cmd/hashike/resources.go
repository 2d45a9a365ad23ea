package main

import (
	"log/slog"
	"time"

	"github.com/hashike/hashike"
	"github.com/hashike/hashike/usage"
)

// usageMonitor samples the CPU and memory of the runs this process supervises, at each
// backend's own interval, or every HASHIKE_USAGE_INTERVAL (a Go duration; 0 or "off": no
// sampling, nil).
func (a *app) usageMonitor(warn func(error)) (*usage.Monitor, error) {
	m := &usage.Monitor{Clock: a.clock, Warn: warn}
	switch v := a.env("HASHIKE_USAGE_INTERVAL"); v {
	case "":
	case "off", "0":
		return nil, nil
	default:
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 {
			return nil, hashike.Errorf(hashike.EInvalid, "HASHIKE_USAGE_INTERVAL=%q: want a duration such as 5s, or off", v)
		}
		m.Interval = d
	}
	return m, nil
}

// logUsageWarning is the server's Warn for the usage monitor.
func logUsageWarning(log *slog.Logger) func(error) {
	return func(err error) { log.Warn("usage", "err", err) }
}
