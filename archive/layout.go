package archive

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/hashike/hashike"
)

const (
	taskPrefix    = "logs/by-task/"
	servicePrefix = "logs/by-service/"
	segmentExt    = ".json.zst"
)

// partValue escapes a Hive partition value the way Hive does: characters that would end the
// path segment or be read as part of the key=value syntax become %XX. ECS family and container
// names (letters, digits, '-' and '_') come through unchanged.
func partValue(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '-', c == '_', c == '.' && i > 0:
			b.WriteByte(c)
		default:
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	if b.Len() == 0 {
		return "__HIVE_DEFAULT_PARTITION__"
	}
	return b.String()
}

// TaskKey is where a run's container's segment seq is stored, per task.
func TaskKey(family, container, runID string, seq int) string {
	return fmt.Sprintf("%sfamily=%s/container=%s/run=%s/%06d%s", taskPrefix, partValue(family), partValue(container),
		partValue(runID), seq, segmentExt)
}

// ServiceKey is where the same segment is stored per service: under the UTC date of its first
// line.
func ServiceKey(family, container, runID string, seq int, first time.Time) string {
	return fmt.Sprintf("%sfamily=%s/container=%s/dt=%s/%s-%06d%s", servicePrefix, partValue(family), partValue(container),
		first.UTC().Format(time.DateOnly), partValue(runID), seq, segmentExt)
}

// serviceKey is a by-service key taken apart.
type serviceKey struct {
	family, container string // as escaped in the key
	date              string // YYYY-MM-DD
	runID             string
	seq               int
}

// parseServiceKey reads a by-service key; ok is false for anything else.
func parseServiceKey(key string) (k serviceKey, ok bool) {
	rest, ok := strings.CutPrefix(key, servicePrefix)
	if !ok {
		return k, false
	}
	parts := strings.Split(rest, "/")
	if len(parts) != 4 {
		return k, false
	}
	var fam, cont, dt bool
	k.family, fam = strings.CutPrefix(parts[0], "family=")
	k.container, cont = strings.CutPrefix(parts[1], "container=")
	k.date, dt = strings.CutPrefix(parts[2], "dt=")
	name, ext := strings.CutSuffix(parts[3], segmentExt)
	i := strings.LastIndexByte(name, '-')
	if !fam || !cont || !dt || !ext || i <= 0 {
		return k, false
	}
	seq, err := strconv.Atoi(name[i+1:])
	if err != nil || seq <= 0 {
		return k, false
	}
	k.runID, k.seq = name[:i], seq
	return k, true
}

// KeyPrefix is the prefix of every key the archive writes.
const KeyPrefix = "logs/"

// ParseKey tells the retention pruner which family and (UTC) day an archived object is filed
// under: the dt= partition of a by-service key; for a by-task key, whose path has no date, the
// day it was written (o.Modified). ok is false for any other key.
func ParseKey(o hashike.ObjectInfo) (family string, day time.Time, ok bool) {
	if k, ok := parseServiceKey(o.Key); ok {
		fam, err := url.PathUnescape(k.family)
		d, derr := time.Parse(time.DateOnly, k.date)
		if err != nil || derr != nil {
			return "", time.Time{}, false
		}
		return fam, d, true
	}
	rest, ok := strings.CutPrefix(o.Key, taskPrefix)
	if !ok || o.Modified.IsZero() {
		return "", time.Time{}, false
	}
	part, _, _ := strings.Cut(rest, "/")
	fam, ok := strings.CutPrefix(part, "family=")
	if !ok {
		return "", time.Time{}, false
	}
	fam, err := url.PathUnescape(fam)
	if err != nil {
		return "", time.Time{}, false
	}
	m := o.Modified.UTC()
	return fam, time.Date(m.Year(), m.Month(), m.Day(), 0, 0, 0, 0, time.UTC), true
}
