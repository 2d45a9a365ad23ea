package runners

import (
	"fmt"
	"slices"
	"time"

	"github.com/hashike/hashike"
	"github.com/hashike/hashike/autoscale"
)

// WarmSchedule keeps MinIdle idle runners in a recurring window: it opens at each fire time
// of Cron in TimeZone and stays open for Duration (the semantics of package cron's
// windows). Weekdays 09:00-19:00 in Tokyo is {Cron: "0 9 * * 1-5", Duration: 10h,
// TimeZone: "Asia/Tokyo"}.
type WarmSchedule struct {
	Cron     string           `json:"cron"`
	Duration hashike.Duration `json:"duration"`
	// TimeZone is an IANA name; empty means UTC.
	TimeZone string `json:"timeZone,omitempty"`
	MinIdle  int    `json:"minIdle"`
}

// SLO sizes a pool's idle runners so that queued->started stays within Target at Quantile.
type SLO struct {
	// Target is the queued->started latency to keep, e.g. 15s.
	Target hashike.Duration `json:"target"`
	// Quantile is the share of jobs that must start within Target; 0 means 0.95.
	Quantile float64 `json:"quantile,omitempty"`
}

func (s *SLO) validate() error {
	if s.Target <= 0 {
		return fmt.Errorf("target must be positive")
	}
	if s.Quantile < 0 || s.Quantile >= 1 {
		return fmt.Errorf("quantile %v is out of range [0, 1)", s.Quantile)
	}
	return nil
}

func (s *SLO) quantile() float64 {
	if s.Quantile == 0 {
		return 0.95
	}
	return s.Quantile
}

// Observed is what the controller measured of a pool, for its SLO: the arrival history of
// its jobs and the start latency of its runners.
type Observed struct {
	// Arrivals[i] counts the jobs first seen queued in the i-th bucket of Bucket (aligned
	// to the Unix epoch), oldest first; the last is the bucket now falls in.
	Arrivals []int
	Bucket   time.Duration
	// StartLatency is a runner's start, requested -> registered and online, at the SLO's
	// quantile of recent starts; 0 when none was measured yet.
	StartLatency time.Duration
}

// DefaultStartLatency stands in for a pool's start latency until one runner was measured.
const DefaultStartLatency = 30 * time.Second

// SLOIdle is how many idle runners keep p's SLO at now: none when a runner starts within
// the target anyway; otherwise the jobs expected to arrive while a runner starts, at the
// SLO's quantile of a Poisson count around autoscale's arrival forecast (the autoscaler's
// own forecast code), since each job arriving in that time must find an idle runner.
func SLOIdle(slo *SLO, o Observed, now time.Time) (int, string) {
	lat := o.StartLatency
	if lat <= 0 {
		lat = DefaultStartLatency
	}
	if lat <= time.Duration(slo.Target) {
		return 0, fmt.Sprintf("a runner starts in %v, within the SLO's %v", lat, time.Duration(slo.Target))
	}
	m := autoscale.ForecastArrivals(o.Arrivals, o.Bucket, now, lat)
	n := autoscale.PoissonQuantile(m, slo.quantile())
	return n, fmt.Sprintf("%.2f jobs forecast within a runner's start of %v; %d cover %v of them", m, lat, n, slo.quantile())
}

// MinIdle is pool's effective minimum of idle runners at now, with the reason: the largest
// of its base MinIdle, its active schedule windows' and (with an SLO) the SLO's sizing.
func (p *Plan) MinIdle(pool string, now time.Time, o Observed) (int, string) {
	i, ok := p.index[pool]
	if !ok {
		return 0, "unknown pool"
	}
	pl := &p.pools[i]
	n, why := pl.MinIdle, fmt.Sprintf("base minIdle %d", pl.MinIdle)
	for j, w := range p.warm[i] {
		until, open := w.InWindow(now)
		if open && pl.Schedules[j].MinIdle > n {
			n, why = pl.Schedules[j].MinIdle, fmt.Sprintf("schedule %d (%s %s) until %s", j, pl.Schedules[j].Cron, tzName(pl.Schedules[j].TimeZone), until.UTC().Format(time.RFC3339))
		}
	}
	if pl.SLO != nil {
		if s, sw := SLOIdle(pl.SLO, o, now); s >= n {
			n, why = s, "SLO: "+sw
		}
	}
	return n, why
}

func tzName(tz string) string {
	if tz == "" {
		return "UTC"
	}
	return tz
}

// Latencies keeps the last few start latencies of a pool's runners.
type Latencies struct {
	samples []time.Duration
	next    int
}

// latencySamples is how many recent starts Latencies keeps.
const latencySamples = 50

// Add records one start latency.
func (l *Latencies) Add(d time.Duration) {
	if len(l.samples) < latencySamples {
		l.samples = append(l.samples, d)
		return
	}
	l.samples[l.next] = d
	l.next = (l.next + 1) % latencySamples
}

// Quantile is the q-quantile of the recorded latencies (nearest rank), 0 with none.
func (l *Latencies) Quantile(q float64) time.Duration {
	if len(l.samples) == 0 {
		return 0
	}
	s := slices.Clone(l.samples)
	slices.Sort(s)
	i := int(float64(len(s))*q+0.999999) - 1
	return s[min(max(i, 0), len(s)-1)]
}

// History counts arrivals (jobs first seen queued) per bucket, a bounded window of them.
type History struct {
	Bucket time.Duration
	// Keep bounds the buckets kept (a week of minutes by default, the forecast's longest
	// season).
	Keep   int
	counts []int
	last   time.Time // start of the last bucket
}

// Add counts n arrivals at t (t never before the last Add's bucket).
func (h *History) Add(t time.Time, n int) {
	h.advance(t)
	h.counts[len(h.counts)-1] += n
}

func (h *History) advance(t time.Time) {
	if h.Bucket <= 0 {
		h.Bucket = time.Minute
	}
	if h.Keep <= 0 {
		h.Keep = int(7*24*time.Hour/h.Bucket) + 2
	}
	b := t.Truncate(h.Bucket)
	if len(h.counts) == 0 {
		h.counts, h.last = []int{0}, b
		return
	}
	if gap := int(b.Sub(h.last) / h.Bucket); gap > 0 {
		h.counts = append(h.counts, make([]int, min(gap, h.Keep))...)
	}
	if b.After(h.last) {
		h.last = b
	}
	if len(h.counts) > h.Keep {
		h.counts = h.counts[len(h.counts)-h.Keep:]
	}
}

// At returns the arrival counts up to the bucket of now (the forecast's input).
func (h *History) At(now time.Time) []int {
	h.advance(now)
	return h.counts
}
