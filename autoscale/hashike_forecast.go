package autoscale

import (
	"math"
	"time"
)

// forecast is hashike's demand forecast at one decision: arrivals expected over a window,
// departures expected over it from the tasks running (Little's law), and what each comes
// from, for the reasons.
type forecast struct {
	Window time.Duration
	// Seasonal and Recent are the two forecasts of arrivals in the window; WSeasonal is
	// the seasonal one's weight in Arrivals (1 - WSeasonal is the recent rate's).
	Seasonal, Recent, WSeasonal float64
	Arrivals                    float64
	// Duration is the mean task duration estimated by Little's law (running tasks over
	// the arrival rate, both averaged over the last hour); 0 when unknown.
	Duration time.Duration
	// Departures is how many of the running tasks are expected to end within the window.
	Departures float64
}

// ewmaAlpha is the recent-rate estimator's weight of each new one-minute bucket (a
// half-life of about 3 buckets).
const ewmaAlpha = 0.2

// errorBuckets is how many completed buckets each forecaster's recent error is measured
// over (3 hours of one-minute buckets, so an hourly burst is in it).
const errorBuckets = 180

// seasonFor returns the longest season Arrivals covers at t, or 0.
func (s *Snapshot) seasonFor(t time.Time) time.Duration {
	for _, p := range seasons {
		if _, ok := s.arrivalsAt(t.Add(-p)); ok {
			return p
		}
	}
	return 0
}

// blend forecasts the arrivals in [now, now+window): the seasonal forecast
// (ExpectedArrivals) and a recent-rate one (an exponentially weighted moving average of the
// completed one-minute buckets, times the window), weighted by the inverse square of each
// one's mean absolute error over the last errorBuckets completed buckets. A periodic
// workload (cron on the hour) trusts the seasonal forecast; bursts that do not repeat
// trust the recent rate.
func (s *Snapshot) blend(now time.Time, window time.Duration) (seasonal, recent, wSeasonal float64) {
	b := s.ArrivalBucket
	if len(s.Arrivals) < 2 || b <= 0 {
		return 0, 0, 0
	}
	seasonal = s.ExpectedArrivals(now, window)
	done := s.Arrivals[:len(s.Arrivals)-1] // completed buckets
	season := s.seasonFor(now)
	lag := int(season / b)
	start := max(0, len(done)-errorBuckets-30)
	ewma := float64(done[start])
	var errS, errR float64
	n, informative := 0, 0
	for i := start + 1; i < len(done); i++ {
		actual := float64(done[i])
		if i >= len(done)-errorBuckets {
			errR += math.Abs(ewma - actual)
			if lag > 0 && i-lag >= 0 {
				errS += math.Abs(float64(done[i-lag]) - actual)
				if done[i-lag] > 0 || actual > 0 {
					informative++
				}
			}
			n++
		}
		ewma += ewmaAlpha * (actual - ewma)
	}
	recent = ewma * float64(window) / float64(b)
	if lag == 0 || n == 0 {
		return seasonal, recent, 0
	}
	if informative == 0 {
		// Nothing to tell the two apart (no arrivals then or now): the seasonal forecast
		// weighs as much as the tasks it expects against one pseudo-task for the recent
		// rate, so a burst of 60 a day ago is expected again and a lone arrival a week ago
		// hardly.
		return seasonal, recent, seasonal / (seasonal + 1)
	}
	errS, errR = errS/float64(n), errR/float64(n)
	ws, wr := 1/((errS+0.1)*(errS+0.1)), 1/((errR+0.1)*(errR+0.1))
	return seasonal, recent, ws / (ws + wr)
}

// meanRate is the arrivals per second over the last d of completed buckets.
func (s *Snapshot) meanRate(d time.Duration) float64 {
	b := s.ArrivalBucket
	if len(s.Arrivals) < 2 || b <= 0 {
		return 0
	}
	k := min(len(s.Arrivals)-1, max(1, int(d/b)))
	sum := 0
	for _, n := range s.Arrivals[len(s.Arrivals)-1-k : len(s.Arrivals)-1] {
		sum += n
	}
	return float64(sum) / (float64(k) * b.Seconds())
}

// poissonQuantile is the smallest n with P(N <= n) >= q for N Poisson with mean m (a
// normal approximation with continuity correction above a mean of 100).
func poissonQuantile(m, q float64) int {
	if m <= 0 || q <= 0 {
		return 0
	}
	q = min(q, 1-1e-9)
	if m > 100 {
		z := math.Sqrt2 * math.Erfinv(2*q-1)
		return int(math.Ceil(m + z*math.Sqrt(m) - 0.5))
	}
	p := math.Exp(-m)
	cdf := p
	n := 0
	for cdf < q && n < 10000 {
		n++
		p *= m / float64(n)
		cdf += p
	}
	return n
}

// burstRate is the rate per second of bursts over the last d of completed buckets, a burst
// being a run of consecutive buckets with arrivals: sparse arrivals are each a burst; a
// burst on the hour is one an hour, however it straddles buckets; a steady load is one
// long burst.
func (s *Snapshot) burstRate(d time.Duration) float64 {
	b := s.ArrivalBucket
	if len(s.Arrivals) < 2 || b <= 0 {
		return 0
	}
	k := min(len(s.Arrivals)-1, max(1, int(d/b)))
	runs, prev := 0, 0
	for _, n := range s.Arrivals[len(s.Arrivals)-1-k : len(s.Arrivals)-1] {
		if n > 0 && prev == 0 {
			runs++
		}
		prev = n
	}
	return float64(runs) / (float64(k) * b.Seconds())
}

// ForecastArrivals is hashike's arrival forecast for [now, now+window) from an arrival
// history (arrivals[i] counts the arrivals of the i-th bucket, aligned to the Unix epoch,
// the last one the bucket now falls in): the seasonal and recent-rate forecasts blended as
// the autoscaler's warm headroom blends them. Other controllers (the runner pools' SLO
// mode) size themselves with it, so the simulator measures the same code.
func ForecastArrivals(arrivals []int, bucket time.Duration, now time.Time, window time.Duration) float64 {
	s := Snapshot{Now: now, Arrivals: arrivals, ArrivalBucket: bucket}
	seasonal, recent, w := s.blend(now, window)
	return w*seasonal + (1-w)*recent
}

// PoissonQuantile is the smallest n with P(N <= n) >= q for N Poisson with mean m: how many
// arrivals to be ready for when m are expected and a fraction q of windows must be covered.
func PoissonQuantile(m, q float64) int { return poissonQuantile(m, q) }
