package leadership_test

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/hashike/hashike"
	"github.com/hashike/hashike/leadership"
	"github.com/hashike/hashike/sqlite"
)

// The electors of these tests run in a synctest bubble, on its fake time, over a real SQLite
// store: time.Sleep(d) then synctest.Wait() is "d later, once every elector has acted".

const (
	ttl    = 15 * time.Second
	renew  = 5 * time.Second
	margin = 5 * time.Second
)

// flaky is one elector's way to the store; while down, every call fails as a database that
// does not answer.
type flaky struct {
	hashike.Leases
	down atomic.Bool
}

var errDown = &hashike.Error{Code: hashike.EUnavailable, Message: "the database is down"}

func (f *flaky) AcquireLease(ctx context.Context, name, holder string, now time.Time, ttl time.Duration) (hashike.Lease, bool, error) {
	if f.down.Load() {
		return hashike.Lease{}, false, errDown
	}
	return f.Leases.AcquireLease(ctx, name, holder, now, ttl)
}

func (f *flaky) ReleaseLease(ctx context.Context, name, holder string) error {
	if f.down.Load() {
		return errDown
	}
	return f.Leases.ReleaseLease(ctx, name, holder)
}

// cluster is electors sharing one store, and what their subscribers saw. Every gain checks
// that no other elector leads at that instant.
type cluster struct {
	t     *testing.T
	store *sqlite.Store
	els   []*leadership.Elector
	ways  []*flaky

	mu      sync.Mutex
	leading map[string]bool
	events  []event
}

type event struct {
	holder string
	leader bool
	at     time.Time
}

func newCluster(t *testing.T, n int, dead func(string) bool) *cluster {
	t.Helper()
	st, err := sqlite.Open(filepath.Join(t.TempDir(), "leases.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	c := &cluster{t: t, store: st, leading: map[string]bool{}}
	for i := range n {
		holder := fmt.Sprintf("replica-%d", i)
		way := &flaky{Leases: st}
		e, err := leadership.New(leadership.Config{
			Leases: way, Name: "leader", Holder: holder, Clock: hashike.SystemClock{},
			TTL: ttl, RenewInterval: renew, Margin: margin, Dead: dead,
		})
		if err != nil {
			t.Fatal(err)
		}
		e.Subscribe(func(leader bool) { c.observe(holder, leader) })
		c.els = append(c.els, e)
		c.ways = append(c.ways, way)
	}
	return c
}

func (c *cluster) observe(holder string, leader bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if leader {
		for other, l := range c.leading {
			if l && other != holder {
				c.t.Errorf("at %s %s gained leadership while %s leads", time.Now().Format(time.TimeOnly), holder, other)
			}
		}
	}
	if !leader {
		// Subscribers are told before the lease is let go: until they return, no other
		// elector can take it.
		if l, err := c.store.GetLease(context.Background(), "leader"); err != nil || l.Holder != holder {
			c.t.Errorf("%s's subscriber was told of its loss after the lease went (%+v, %v)", holder, l, err)
		}
	}
	c.leading[holder] = leader
	c.events = append(c.events, event{holder, leader, time.Now()})
}

func (c *cluster) start() {
	for _, e := range c.els {
		e.Start(context.Background())
	}
	c.t.Cleanup(c.stop)
}

func (c *cluster) stop() {
	for _, e := range c.els {
		e.Stop()
	}
}

// leaders returns the indexes of the electors that lead now, checking that their subscribers
// were told so.
func (c *cluster) leaders() []int {
	c.t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []int
	for i, e := range c.els {
		holder := fmt.Sprintf("replica-%d", i)
		if e.Leader() != c.leading[holder] {
			c.t.Errorf("%s: Leader() = %v, its subscriber was told %v", holder, e.Leader(), c.leading[holder])
		}
		if e.Leader() {
			out = append(out, i)
		}
	}
	return out
}

// only returns the one leader, failing the test when there is not exactly one.
func (c *cluster) only() int {
	c.t.Helper()
	l := c.leaders()
	if len(l) != 1 {
		c.t.Fatalf("at %s leaders %v, want exactly one", time.Now().Format(time.TimeOnly), l)
	}
	return l[0]
}

// lastEvent returns when holder's subscriber was last told leader.
func (c *cluster) lastEvent(i int, leader bool) (time.Time, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for k := len(c.events) - 1; k >= 0; k-- {
		if ev := c.events[k]; ev.holder == fmt.Sprintf("replica-%d", i) && ev.leader == leader {
			return ev.at, true
		}
	}
	return time.Time{}, false
}

// TestOneLeader: of three electors started together, one leads, and the same one keeps
// leading (renewing its lease) over many lease lifetimes.
func TestOneLeader(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := newCluster(t, 3, nil)
		c.start()
		first := c.only()
		for range 20 {
			time.Sleep(renew / 2)
			synctest.Wait()
			if l := c.only(); l != first {
				t.Fatalf("leadership moved from %d to %d with no failure", first, l)
			}
		}
		l, err := c.store.GetLease(context.Background(), "leader")
		if err != nil || l.Holder != fmt.Sprintf("replica-%d", first) || !l.ExpiresAt.After(time.Now()) {
			t.Fatalf("lease %+v, %v: want replica-%d's, current", l, err, first)
		}
	})
}

// TestStopHandsOver: a leader's Stop tells its subscriber, releases the lease, and another
// elector leads at its next attempt, long before the lease would have expired.
func TestStopHandsOver(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := newCluster(t, 3, nil)
		c.start()
		old := c.only()
		time.Sleep(time.Second) // mid-interval: the lease was renewed a second ago
		synctest.Wait()
		stoppedAt := time.Now()
		c.els[old].Stop()
		if at, ok := c.lastEvent(old, false); !ok || !at.Equal(stoppedAt) {
			t.Fatalf("the stopped leader's subscriber was not told at once (%v, %v)", at, ok)
		}
		if l, err := c.store.GetLease(context.Background(), "leader"); hashike.ErrorCodeOf(err) != hashike.ENotFound {
			t.Fatalf("after Stop the lease is %+v (%v), want released", l, err)
		}
		time.Sleep(renew)
		synctest.Wait()
		next := c.only()
		at, _ := c.lastEvent(next, true)
		if next == old || at.Sub(stoppedAt) > renew {
			t.Fatalf("leader %d from %s after the stop, want another within %s", next, at.Sub(stoppedAt), renew)
		}
	})
}

// TestRenewalsFail: a leader whose store stops answering steps down (its subscriber told)
// before the lease it holds expires; another elector takes over once it has expired, not
// before; the old leader, its store back, follows.
func TestRenewalsFail(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := newCluster(t, 3, nil)
		c.start()
		old := c.only()
		time.Sleep(renew + time.Second) // the leader has renewed its lease once
		synctest.Wait()
		lease, err := c.store.GetLease(context.Background(), "leader")
		if err != nil {
			t.Fatal(err)
		}
		c.ways[old].down.Store(true)
		for time.Now().Before(lease.ExpiresAt.Add(2 * renew)) {
			time.Sleep(time.Second)
			synctest.Wait()
			c.leaders() // at most one (checked on every gain), and subscribers agree
		}
		lost, ok := c.lastEvent(old, false)
		if !ok || !lost.Before(lease.ExpiresAt) {
			t.Fatalf("the leader stepped down at %v (%v), want before its lease expires at %v", lost, ok, lease.ExpiresAt)
		}
		next := c.only()
		gained, _ := c.lastEvent(next, true)
		if next == old || gained.Before(lease.ExpiresAt) {
			t.Fatalf("leader %d from %v, want another from %v (the lease's expiry) on", next, gained, lease.ExpiresAt)
		}
		c.ways[old].down.Store(false)
		time.Sleep(3 * renew)
		synctest.Wait()
		if l := c.only(); l != next {
			t.Fatalf("leadership moved to %d once the old leader's store was back", l)
		}
	})
}

// TestDeadHolderReplacedAtOnce: a lease held by a holder that Dead says is gone is taken at
// the first attempt, not after it expires; a live holder's is not.
func TestDeadHolderReplacedAtOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := newCluster(t, 1, func(h string) bool { return h == "killed" })
		ctx := context.Background()
		if _, ok, err := c.store.AcquireLease(ctx, "leader", "killed", time.Now(), time.Hour); !ok || err != nil {
			t.Fatal(ok, err)
		}
		c.start()
		if c.only() != 0 {
			t.Fatal("no takeover")
		}
		c.stop()

		d := newCluster(t, 1, func(h string) bool { return h == "killed" })
		if _, ok, err := d.store.AcquireLease(ctx, "leader", "alive", time.Now(), time.Hour); !ok || err != nil {
			t.Fatal(ok, err)
		}
		d.start()
		time.Sleep(3 * renew)
		synctest.Wait()
		if l := d.leaders(); len(l) != 0 {
			t.Fatalf("the lease of a live holder was taken: leaders %v", l)
		}
	})
}

// TestWhile: the loops run while the elector leads, each in its own goroutine, and have
// returned when the subscriber returns from a loss.
func TestWhile(t *testing.T) {
	var running atomic.Int64
	loop := func(ctx context.Context) {
		running.Add(1)
		defer running.Add(-1)
		<-ctx.Done()
		time.Sleep(10 * time.Millisecond) // a loop finishing its tick
	}
	synctest.Test(t, func(t *testing.T) {
		f := leadership.While(context.Background(), loop, loop)
		f(true)
		synctest.Wait()
		if n := running.Load(); n != 2 {
			t.Fatalf("%d loops running while leading, want 2", n)
		}
		f(true) // no change
		synctest.Wait()
		if n := running.Load(); n != 2 {
			t.Fatalf("%d loops running after a repeated gain, want 2", n)
		}
		f(false)
		if n := running.Load(); n != 0 {
			t.Fatalf("%d loops still running when the loss returned", n)
		}
	})
}

func TestNewChecksConfig(t *testing.T) {
	if _, err := leadership.New(leadership.Config{}); err == nil {
		t.Fatal("an empty config was accepted")
	}
	_, err := leadership.New(leadership.Config{Leases: &flaky{}, Name: "l", Holder: "h", Clock: hashike.SystemClock{},
		TTL: 10 * time.Second, RenewInterval: 8 * time.Second, Margin: 5 * time.Second})
	if err == nil {
		t.Fatal("a renew interval longer than TTL-Margin was accepted")
	}
}

// TestBriefOutageKeepsLeader: a leader whose store stops answering for less than TTL-Margin
// retries its renewal and keeps leading; nobody else leads meanwhile.
func TestBriefOutageKeepsLeader(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := newCluster(t, 3, nil)
		c.start()
		old := c.only()
		time.Sleep(time.Second)
		synctest.Wait()
		c.ways[old].down.Store(true) // the renewal at 5 s fails, its deadline is 10 s
		time.Sleep(6500 * time.Millisecond)
		synctest.Wait()
		c.ways[old].down.Store(false) // back at 7.5 s
		for range 10 {
			time.Sleep(time.Second)
			synctest.Wait()
			if l := c.only(); l != old {
				t.Fatalf("leadership moved from %d to %d over an outage shorter than TTL-Margin", old, l)
			}
		}
		if _, lost := c.lastEvent(old, false); lost {
			t.Fatal("the leader stepped down over an outage shorter than TTL-Margin")
		}
	})
}
