package sim

import (
	"fmt"
	"strings"
	"time"
)

// SyntheticNames lists the built-in workloads of Synthetic.
func SyntheticNames() []string { return []string{"poisson", "cron", "ci", "day"} }

// Synthetic returns a built-in workload, generated from seed:
//
//   - poisson: a week of batch jobs (BatchShapes, about 10 minutes each), 20,000 a day on
//     average, Poisson arrivals shaped by WeeklyProfile (a 14:00 peak, quiet nights and
//     weekends).
//   - cron: two days of hourly bursts: 300 jobs (BatchShapes) submitted within 30 s of
//     every hour, as when many cron schedules fire at :00.
//   - ci: a week of CI jobs (CIShapes: small to xlarge, 3-20 minutes), 600 an hour
//     Monday-Friday 09:00-18:00.
//   - day: one day of 80,000 batch jobs (Cookpad's daily RunTask count) with DailyProfile,
//     the simulator's speed benchmark.
func Synthetic(name string, seed uint64) (Workload, error) {
	const day = 24 * time.Hour
	switch name {
	case "poisson":
		return Poisson(PoissonSpec{Name: "synthetic:poisson", Rate: 20_000 / 24.0, Span: 7 * day, Profile: WeeklyProfile(), Shapes: BatchShapes()}, seed), nil
	case "cron":
		return Cron(CronSpec{Name: "synthetic:cron", Burst: 300, Jitter: 30 * time.Second, Span: 2 * day, Shapes: BatchShapes()}, seed), nil
	case "ci":
		return CI("synthetic:ci", 600, 7*day, seed), nil
	case "day":
		return Poisson(PoissonSpec{Name: "synthetic:day", Rate: 80_000 / 24.0, Span: day, Profile: DailyProfile(), Shapes: BatchShapes()}, seed), nil
	}
	return Workload{}, fmt.Errorf("unknown synthetic workload %q (known: %s)", name, strings.Join(SyntheticNames(), ", "))
}
