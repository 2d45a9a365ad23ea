package sim

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestTraceRoundTrip(t *testing.T) {
	wl := Merge("mix", batch(1, time.Hour, 100), CI("ci", 50, 24*time.Hour, 2), Cron(CronSpec{Burst: 5, Jitter: 10 * time.Second, Span: 3 * time.Hour, Shapes: BatchShapes()}, 3))
	var buf bytes.Buffer
	if err := WriteTrace(&buf, wl); err != nil {
		t.Fatal(err)
	}
	got, err := ReadTrace(&buf, "mix.csv")
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Jobs) != len(wl.Jobs) {
		t.Fatalf("%d jobs back, wrote %d", len(got.Jobs), len(wl.Jobs))
	}
	for i := range wl.Jobs {
		if got.Jobs[i] != wl.Jobs[i] {
			t.Fatalf("job %d: %+v, wrote %+v", i, got.Jobs[i], wl.Jobs[i])
		}
	}
}

func TestReadTraceErrors(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"submit_s,duration_s,cpu\n", "t.csv:1: missing column \"memory_mib\""},
		{"submit_s,duration_s,cpu,memory_mib\n1,2,3,4\nx,2,3,4\n", "t.csv:3: column submit_s"},
		{"cpu,memory_mib,submit_s,duration_s\n1024,2048,0,-1\n", "t.csv:2: column duration_s"},
		{"submit_s,duration_s,cpu,memory_mib\n0,1,0.5,4\n", "t.csv:2: column cpu"},
		{"submit_s,duration_s,cpu,memory_mib\n0,1,5\n", "t.csv:2: column memory_mib"},
	} {
		_, err := ReadTrace(strings.NewReader(tc.in), "t.csv")
		if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("%q: error %v, want %q", tc.in, err, tc.want)
		}
	}
	wl, err := ReadTrace(strings.NewReader("name,submit_s,duration_s,cpu,memory_mib,extra\nb,5,60,512,1024,x\na,1.5,30,256,512,y\n"), "t.csv")
	if err != nil {
		t.Fatal(err)
	}
	if len(wl.Jobs) != 2 || wl.Jobs[0].Name != "a" || wl.Jobs[0].Submit != 1500*time.Millisecond {
		t.Fatalf("%+v", wl.Jobs)
	}
}

func FuzzReadTrace(f *testing.F) {
	f.Add("submit_s,duration_s,cpu,memory_mib,name\n0,60,1024,2048,a\n")
	f.Add("submit_s,duration_s,cpu,memory_mib\n1e3,NaN,1,1\n")
	f.Fuzz(func(t *testing.T, in string) {
		wl, err := ReadTrace(strings.NewReader(in), "f.csv")
		if err != nil {
			if !strings.HasPrefix(err.Error(), "f.csv") {
				t.Fatalf("error %q does not name the file", err)
			}
			return
		}
		for _, j := range wl.Jobs {
			if j.CPU <= 0 || j.MemoryMiB <= 0 || j.Submit < 0 || j.Duration < 0 {
				t.Fatalf("bad job %+v", j)
			}
		}
	})
}

func TestConvertOpenB(t *testing.T) {
	// shared/ sits beside the repository's checkout (CI puts it there): a missing trace is a
	// failure, never a silent skip.
	path := filepath.Join("..", "..", "shared", "data", "openb_pod_list_default.csv")
	f, err := os.Open(path)
	if err != nil {
		t.Fatalf("the openb trace, expected in shared/data beside the checkout: %v", err)
	}
	defer f.Close()
	wl, err := ConvertOpenB(f, path)
	if err != nil {
		t.Fatal(err)
	}
	if len(wl.Jobs) != 8152 {
		t.Fatalf("%d jobs, the trace has 8152 pods", len(wl.Jobs))
	}
	var last time.Duration
	maxCPU := 0
	for i, j := range wl.Jobs {
		if j.Submit < last || j.Submit > 150*24*time.Hour {
			t.Fatalf("job %d submit %v out of order or beyond the 149-day span", i, j.Submit)
		}
		last = j.Submit
		if j.Duration < time.Second || j.Duration > 150*24*time.Hour {
			t.Fatalf("job %d duration %v", i, j.Duration)
		}
		if j.CPU < 1 || j.CPU > 128*1024 || j.MemoryMiB < 1 || j.MemoryMiB > 1<<20 {
			t.Fatalf("job %d shape cpu %d mem %d", i, j.CPU, j.MemoryMiB)
		}
		maxCPU = max(maxCPU, j.CPU)
	}
	if wl.Jobs[0].Name != "openb-pod-0000" || wl.Jobs[0].CPU != 12288 || wl.Jobs[0].MemoryMiB != 16384 {
		t.Fatalf("first pod %+v (12000 milli = 12288 units, 16384 MiB)", wl.Jobs[0])
	}
	// The converted form reads back unchanged.
	var buf bytes.Buffer
	if err := WriteTrace(&buf, wl); err != nil {
		t.Fatal(err)
	}
	back, err := ReadTrace(&buf, "openb.csv")
	if err != nil {
		t.Fatal(err)
	}
	if len(back.Jobs) != len(wl.Jobs) {
		t.Fatalf("read back %d jobs", len(back.Jobs))
	}
	if err := convertOpenBBadRow(); err != nil {
		t.Fatal(err)
	}
}

func convertOpenBBadRow() error {
	_, err := ConvertOpenB(strings.NewReader("name,cpu_milli,memory_mib,creation_time,deletion_time,scheduled_time\np,abc,1,0,1,\n"), "o.csv")
	if err == nil || !strings.HasPrefix(err.Error(), "o.csv:2: column cpu_milli") {
		return err
	}
	return nil
}
