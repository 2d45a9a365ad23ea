package archive

import (
	"testing"
	"time"

	"github.com/hashike/hashike"
)

// TestParseKey: the retention pruner learns each archived object's family and day from the
// keys the archive writes, by-service by its dt= partition, by-task by when it was written.
func TestParseKey(t *testing.T) {
	first := time.Date(2026, 12, 5, 23, 59, 0, 0, time.FixedZone("JST", 9*3600))
	modified := time.Date(2026, 12, 6, 1, 2, 3, 0, time.UTC)
	day := func(y int, m time.Month, d int) time.Time { return time.Date(y, m, d, 0, 0, 0, 0, time.UTC) }
	for _, c := range []struct {
		key    string
		family string
		day    time.Time
		ok     bool
	}{
		{ServiceKey("nightly-etl", "app", "01run", 1, first), "nightly-etl", day(2026, 12, 5), true},
		{TaskKey("nightly-etl", "app", "01run", 2), "nightly-etl", day(2026, 12, 6), true},
		{ServiceKey("odd family", "app", "01run", 1, first), "odd family", day(2026, 12, 5), true},
		{"logs/by-service/family=x/container=y/dt=notadate/01run-000001.json.zst", "", time.Time{}, false},
		{"runs/01run/result", "", time.Time{}, false},
		{"logs/elsewhere/x", "", time.Time{}, false},
	} {
		fam, d, ok := ParseKey(hashike.ObjectInfo{Key: c.key, Modified: modified})
		if ok != c.ok || fam != c.family || !d.Equal(c.day) {
			t.Errorf("ParseKey(%s) = %q, %s, %t; want %q, %s, %t", c.key, fam, d, ok, c.family, c.day, c.ok)
		}
	}
}
