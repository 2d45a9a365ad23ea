package sim

import (
	"cmp"
	"math/rand/v2"
	"slices"
	"time"
)

// Job is one job of a workload: submitted at Submit (from the workload's start), it needs a
// task of CPU (ECS units) and MemoryMiB for Duration once its container runs.
type Job struct {
	Submit    time.Duration `json:"submit"`
	Duration  time.Duration `json:"duration"`
	CPU       int           `json:"cpu"`
	MemoryMiB int           `json:"memoryMiB"`
	Name      string        `json:"name,omitempty"`
	Queue     string        `json:"queue,omitempty"`
	Image     string        `json:"image,omitempty"`
}

// Workload is a list of jobs ordered by Submit.
type Workload struct {
	Name string `json:"name"`
	Jobs []Job  `json:"jobs"`
}

// Merge returns the jobs of all workloads in one, ordered by Submit (stable: ties keep the
// argument order).
func Merge(name string, wls ...Workload) Workload {
	var jobs []Job
	for _, w := range wls {
		jobs = append(jobs, w.Jobs...)
	}
	slices.SortStableFunc(jobs, func(a, b Job) int { return cmp.Compare(a.Submit, b.Submit) })
	return Workload{Name: name, Jobs: jobs}
}

// Profile scales an arrival rate by hour of day and day of week (0 = the start's weekday,
// Monday for the default Config.Start). Zero-valued arrays mean flat. Each array is
// normalised to mean 1 so a generator's Rate is the mean rate.
type Profile struct {
	Daily  [24]float64 `json:"daily"`
	Weekly [7]float64  `json:"weekly"`
}

// DailyProfile is a working-day shape: quiet at night, a morning ramp, a peak around 14:00
// about 3x the night rate, all days alike.
func DailyProfile() Profile {
	return Profile{Daily: [24]float64{
		0.4, 0.35, 0.3, 0.3, 0.3, 0.35, 0.5, 0.7, 1.0, 1.3, 1.5, 1.6,
		1.6, 1.7, 1.8, 1.7, 1.6, 1.4, 1.2, 1.0, 0.8, 0.7, 0.55, 0.45,
	}}
}

// WeeklyProfile is DailyProfile with quieter weekends.
func WeeklyProfile() Profile {
	p := DailyProfile()
	p.Weekly = [7]float64{1, 1, 1, 1, 1, 0.4, 0.3}
	return p
}

func normalised(xs []float64) []float64 {
	out := make([]float64, len(xs))
	sum := 0.0
	for _, x := range xs {
		sum += x
	}
	if sum == 0 {
		for i := range out {
			out[i] = 1
		}
		return out
	}
	for i, x := range xs {
		out[i] = x * float64(len(xs)) / sum
	}
	return out
}

// Shape is a job size with a relative weight and a mean duration.
type Shape struct {
	Name      string        `json:"name"`
	CPU       int           `json:"cpu"`
	MemoryMiB int           `json:"memoryMiB"`
	Mean      time.Duration `json:"mean"`
	Weight    float64       `json:"weight"`
}

// CIShapes are CI jobs' sizes: small, medium, large and xlarge.
func CIShapes() []Shape {
	return []Shape{
		{Name: "small", CPU: 512, MemoryMiB: 1024, Mean: 3 * time.Minute, Weight: 50},
		{Name: "medium", CPU: 1024, MemoryMiB: 2048, Mean: 6 * time.Minute, Weight: 30},
		{Name: "large", CPU: 2048, MemoryMiB: 4096, Mean: 12 * time.Minute, Weight: 15},
		{Name: "xlarge", CPU: 4096, MemoryMiB: 8192, Mean: 20 * time.Minute, Weight: 5},
	}
}

// BatchShapes are generic batch jobs, about 10 minutes on average.
func BatchShapes() []Shape {
	return []Shape{
		{Name: "small", CPU: 256, MemoryMiB: 512, Mean: 5 * time.Minute, Weight: 40},
		{Name: "medium", CPU: 1024, MemoryMiB: 2048, Mean: 10 * time.Minute, Weight: 40},
		{Name: "large", CPU: 2048, MemoryMiB: 6144, Mean: 20 * time.Minute, Weight: 20},
	}
}

// PoissonSpec generates arrivals of a non-homogeneous Poisson process.
type PoissonSpec struct {
	Name string `json:"name"`
	// Rate is the mean number of jobs per hour over the profile.
	Rate    float64       `json:"rate"`
	Span    time.Duration `json:"span"`
	Profile Profile       `json:"profile"`
	Shapes  []Shape       `json:"shapes"`
	Queue   string        `json:"queue,omitempty"`
	Image   string        `json:"image,omitempty"`
	// BusinessHours keeps only arrivals Monday-Friday 09:00-18:00 (CI traffic); Rate is
	// then the rate within those hours.
	BusinessHours bool `json:"businessHours,omitempty"`
}

// Poisson generates a workload by thinning: candidates at the peak rate are kept with
// probability rate(t)/peak. Durations are exponential around each shape's mean (at least
// one second).
func Poisson(spec PoissonSpec, seed uint64) Workload {
	r := rand.New(rand.NewPCG(seed, 0x5eed_0001))
	daily := normalised(spec.Profile.Daily[:])
	weekly := normalised(spec.Profile.Weekly[:])
	peak := 0.0
	for _, d := range daily {
		for _, w := range weekly {
			peak = max(peak, d*w)
		}
	}
	if spec.BusinessHours {
		peak, daily, weekly = 1, ones(24), ones(7)
	}
	ratePerSec := spec.Rate * peak / 3600
	var jobs []Job
	if ratePerSec <= 0 || len(spec.Shapes) == 0 {
		return Workload{Name: spec.Name}
	}
	t := 0.0
	for {
		t += r.ExpFloat64() / ratePerSec
		at := time.Duration(t * float64(time.Second))
		if at >= spec.Span {
			break
		}
		h := int(at/time.Hour) % 24
		d := int(at/(24*time.Hour)) % 7
		if spec.BusinessHours && (d >= 5 || h < 9 || h >= 18) {
			continue
		}
		if r.Float64()*peak > daily[h]*weekly[d] {
			continue
		}
		jobs = append(jobs, drawJob(r, spec.Shapes, at, spec.Queue, spec.Image))
	}
	return Workload{Name: spec.Name, Jobs: jobs}
}

func ones(n int) []float64 {
	out := make([]float64, n)
	for i := range out {
		out[i] = 1
	}
	return out
}

func drawJob(r *rand.Rand, shapes []Shape, at time.Duration, queue, image string) Job {
	total := 0.0
	for _, s := range shapes {
		total += s.Weight
	}
	x := r.Float64() * total
	s := shapes[len(shapes)-1]
	for _, c := range shapes {
		if x < c.Weight {
			s = c
			break
		}
		x -= c.Weight
	}
	d := time.Duration(r.ExpFloat64() * float64(s.Mean))
	d = max(d.Round(time.Second), time.Second)
	return Job{Submit: at, Duration: d, CPU: s.CPU, MemoryMiB: s.MemoryMiB, Name: s.Name, Queue: queue, Image: image}
}

// CronSpec generates bursts at the top of every hour: Burst jobs submitted within Jitter of
// the hour (cron schedules all firing at :00).
type CronSpec struct {
	Name   string        `json:"name"`
	Burst  int           `json:"burst"`
	Jitter time.Duration `json:"jitter"`
	Span   time.Duration `json:"span"`
	Shapes []Shape       `json:"shapes"`
	Image  string        `json:"image,omitempty"`
}

// Cron generates the hourly bursts.
func Cron(spec CronSpec, seed uint64) Workload {
	r := rand.New(rand.NewPCG(seed, 0x5eed_0002))
	var jobs []Job
	for h := time.Duration(0); h < spec.Span; h += time.Hour {
		for range spec.Burst {
			at := h
			if spec.Jitter > 0 {
				at += time.Duration(r.Int64N(int64(spec.Jitter)))
			}
			jobs = append(jobs, drawJob(r, spec.Shapes, at, "cron", spec.Image))
		}
	}
	slices.SortStableFunc(jobs, func(a, b Job) int { return cmp.Compare(a.Submit, b.Submit) })
	return Workload{Name: spec.Name, Jobs: jobs}
}

// CI generates CI traffic: Poisson at rate per hour in business hours (Monday-Friday
// 09:00-18:00 from the start), CIShapes sizes.
func CI(name string, rate float64, span time.Duration, seed uint64) Workload {
	return Poisson(PoissonSpec{Name: name, Rate: rate, Span: span, Shapes: CIShapes(), Queue: "ci", Image: "ci-runner", BusinessHours: true}, seed)
}
