// Package process identifies the process that owns a run and tells whether an owner is still
// alive, from Linux's /proc. A PID alone is not enough: PIDs are reused, so an owner is its PID
// plus the start time the kernel records for it.
package process

import (
	"bytes"
	"fmt"
	"os"
	"strings"

	"github.com/hashike/hashike"
)

// Self returns this process as a run owner.
func Self() hashike.Owner {
	host, _ := os.Hostname()
	pid := os.Getpid()
	return hashike.Owner{Host: host, PID: pid, Start: startTime(pid)}
}

// Alive reports whether o is a running process. An owner on another host cannot be checked
// and counts as alive.
func Alive(o hashike.Owner) bool {
	host, _ := os.Hostname()
	if o.Host != host {
		return true
	}
	st := startTime(o.PID)
	return st != "" && st == o.Start
}

// startTime reads field 22 (starttime, in clock ticks since boot) of /proc/PID/stat; "" when
// the process does not exist or is a zombie.
func startTime(pid int) string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return ""
	}
	// The command name (field 2) is in parentheses and may contain spaces: split after it.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return ""
	}
	fields := strings.Fields(string(b[i+1:]))
	// fields[0] is field 3 (state); starttime is field 22.
	if len(fields) < 20 || fields[0] == "Z" || fields[0] == "X" {
		return ""
	}
	return fields[19]
}
