package autoscale

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

// TestHashikeSkipsPoolsWithLaunchErrors: a pool (or one of its types) whose launch failed
// within CapacityAvoid is skipped for the next cheapest that can hold the task, and taken
// again when nothing else can or once the error is older.
func TestHashikeSkipsPoolsWithLaunchErrors(t *testing.T) {
	spot := Pool{Name: "spot", InstanceTypes: []string{"small", "large"}, Max: 10}
	od := Pool{Name: "od", InstanceTypes: []string{"pricy"}, Max: 10}
	fail := func(pool, typ string, ago time.Duration) LaunchError {
		return LaunchError{At: t0.Add(-ago), Pool: pool, Type: typ, Spot: pool == "spot", Code: LaunchErrorInsufficientCapacity}
	}
	for _, c := range []struct {
		name  string
		pools []Pool
		errs  []LaunchError
		want  []string
	}{
		{"no error: cheapest", []Pool{spot, od}, nil, []string{"spot/small x1"}},
		{"pool failed (no type named)", []Pool{spot, od}, []LaunchError{fail("spot", "", time.Minute)}, []string{"od/pricy x1"}},
		{"one type failed: the pool's next", []Pool{spot, od}, []LaunchError{fail("spot", "small", time.Minute)}, []string{"spot/large x1"}},
		{"both types failed", []Pool{spot, od}, []LaunchError{fail("spot", "small", time.Minute), fail("spot", "large", 2*time.Minute)}, []string{"od/pricy x1"}},
		{"error older than CapacityAvoid", []Pool{spot, od}, []LaunchError{fail("spot", "", 3*time.Minute)}, []string{"spot/small x1"}},
		{"other pool's error", []Pool{spot, od}, []LaunchError{fail("od", "", time.Minute)}, []string{"spot/small x1"}},
		{"nothing else: the failed pool", []Pool{spot}, []LaunchError{fail("spot", "", time.Minute)}, []string{"spot/small x1"}},
		{"other pool full", []Pool{spot, {Name: "od", InstanceTypes: []string{"pricy"}, Max: 0}}, []LaunchError{fail("spot", "", time.Minute)}, []string{"spot/small x1"}},
	} {
		s := snap(t0, c.pools, nil, task("a", 1024, 1024, t0.Add(-3*time.Second), false))
		s.LaunchErrors = c.errs
		acts, _ := checkFirst(t, noHeadroom(), s)
		if got, _, _ := kinds(acts); !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s: launches %v, want %v", c.name, got, c.want)
		}
		if len(acts) == 1 && c.want[0] == "od/pricy x1" && !strings.Contains(acts[0].Reason, "skipping spot") {
			t.Errorf("%s: reason %q does not say the pool was skipped", c.name, acts[0].Reason)
		}
	}
}
