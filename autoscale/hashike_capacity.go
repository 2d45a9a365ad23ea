package autoscale

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// avoidLaunchErrors returns the (pool, type) pairs whose launch failed within d before now
// (a failure naming no type gives (pool, ""): the whole pool). Any error code counts: a pool
// that cannot launch (no capacity, a price too low, a bad launch template) delivers nothing
// either way. Spot and on-demand failures alike: the policy does not choose the purchase
// option of a pool's next instance, the pool's split does.
func avoidLaunchErrors(s *Snapshot, now time.Time, d time.Duration) map[[2]string]bool {
	out := map[[2]string]bool{}
	for _, e := range s.LaunchErrors {
		if !e.At.After(now) && now.Sub(e.At) < d {
			out[[2]string{e.Pool, e.Type}] = true
		}
	}
	return out
}

// avoidedString says which pools and types a launch skipped, for the Reason.
func avoidedString(avoided map[[2]string]bool) string {
	if len(avoided) == 0 {
		return ""
	}
	var names []string
	for k := range avoided {
		if k[1] == "" {
			names = append(names, k[0])
		} else {
			names = append(names, k[0]+"/"+k[1])
		}
	}
	slices.Sort(names)
	return fmt.Sprintf("; skipping %s after failed launches", strings.Join(names, ", "))
}
