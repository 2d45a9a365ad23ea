package sim

import (
	"math"
	"testing"
	"time"
)

func TestPoissonProfile(t *testing.T) {
	wl := Poisson(PoissonSpec{Rate: 1000, Span: 7 * 24 * time.Hour, Profile: WeeklyProfile(), Shapes: BatchShapes()}, 1)
	// 168,000 expected; Poisson sd ~410.
	if n := float64(len(wl.Jobs)); math.Abs(n-168_000) > 2000 {
		t.Fatalf("%v jobs in a week at 1000/h", n)
	}
	var byHour [24]float64
	weekend := 0
	for _, j := range wl.Jobs {
		byHour[int(j.Submit/time.Hour)%24]++
		if j.Submit >= 5*24*time.Hour {
			weekend++
		}
	}
	if r := byHour[14] / byHour[3]; r < 5 || r > 7 { // 1.8 / 0.3
		t.Errorf("14:00 / 03:00 = %.2f, want about 6", r)
	}
	if f := float64(weekend) / float64(len(wl.Jobs)); math.Abs(f-0.7/5.7) > 0.01 {
		t.Errorf("weekend share %.3f, want %.3f", f, 0.7/5.7)
	}
}

func TestCIAndCron(t *testing.T) {
	ci := CI("ci", 100, 7*24*time.Hour, 1)
	for _, j := range ci.Jobs {
		h, d := int(j.Submit/time.Hour)%24, int(j.Submit/(24*time.Hour))
		if d >= 5 || h < 9 || h >= 18 {
			t.Fatalf("CI job at day %d hour %d", d, h)
		}
	}
	if n := len(ci.Jobs); math.Abs(float64(n)-4500) > 300 { // 100/h x 9 h x 5 days
		t.Fatalf("%d CI jobs", n)
	}
	cron := Cron(CronSpec{Burst: 20, Jitter: 5 * time.Second, Span: 10 * time.Hour, Shapes: BatchShapes()}, 1)
	if len(cron.Jobs) != 200 {
		t.Fatalf("%d cron jobs", len(cron.Jobs))
	}
	for _, j := range cron.Jobs {
		if j.Submit%time.Hour >= 5*time.Second {
			t.Fatalf("cron job at %v", j.Submit)
		}
	}
}
